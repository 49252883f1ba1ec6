"""bnconform"""
