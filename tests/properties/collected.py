"""A pytest plugin (``-p tests.properties.collected``) that writes, after collection, what every
collected conformance test records: its ``bnconform`` marker's property, op and kind, and its mode
and dtype parameters, as JSON lines to the file ``$BNCONFORM_COLLECTED`` names."""

from __future__ import annotations

import json
import os


def pytest_collection_finish(session):
    with open(os.environ["BNCONFORM_COLLECTED"], "w", encoding="utf-8") as out:
        for item in session.items:
            marker = item.get_closest_marker("bnconform")
            params = getattr(getattr(item, "callspec", None), "params", {})
            out.write(json.dumps({
                "id": item.nodeid, "marked": marker is not None,
                "property": marker and marker.kwargs.get("property"), "op": marker and marker.kwargs.get("op"),
                "kind": marker and marker.kwargs.get("kind"), "mode": params.get("mode", "-"),
                "dtype": params.get("dtype"),
            }) + "\n")
