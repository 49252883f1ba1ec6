"""cifar"""
