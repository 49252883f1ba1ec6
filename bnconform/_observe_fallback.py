"""A stand-in ``observe`` fixture used only while ``bnconform.app.results_plugin`` is absent."""

import pytest


class _Observe:
    def example(self, comparison):
        pass

    def failing_case(self, case_json, replay):
        pass

    def known_deviations(self):
        return []

    def explained(self, entry_id, comparison):
        pass

    def explained_crash(self, entry_id, line):
        pass

    def cifar(self, record):
        pass

    def blobs(self, record):
        pass

    def drift(self, target, op, case_json, output, dtype, device=None):
        pass

    def fingerprint(self, target, data):
        pass

    def coverage(self, target, data):
        pass


@pytest.fixture
def observe():
    return _Observe()


def pytest_configure(config):
    config.addinivalue_line("markers", "bnconform(property, op): a conformance property")
