"""The discovery document and the algorithm list, the two things ``ee.Initialize`` fetches first.

Both come from the earthengine-api package itself (``ee/tests/cloud_api_discovery_document.json`` and
``ee/tests/algorithms.json``), so the client sees exactly the API and signatures it was built for. The discovery
document is rewritten for ``v1`` and for this server's root URL.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from aef_ee.local.api.routes import Request, Response, route


@functools.lru_cache(maxsize=1)
def _ee_tests_dir() -> Path:
    import ee

    return Path(ee.__file__).parent / "tests"


@functools.lru_cache(maxsize=1)
def _discovery_template() -> str:
    return (_ee_tests_dir() / "cloud_api_discovery_document.json").read_text()


@functools.lru_cache(maxsize=1)
def algorithm_signatures() -> dict[str, Any]:
    """Earth Engine's algorithm list: ``{"algorithms": [{"name": "algorithms/Image.add", ...}, ...]}``."""
    return json.loads((_ee_tests_dir() / "algorithms.json").read_text())


def discovery_document(root_url: str) -> dict[str, Any]:
    doc = json.loads(_discovery_template().replace("v1alpha", "v1"))
    doc["rootUrl"] = root_url.rstrip("/") + "/"
    doc["baseUrl"] = doc["rootUrl"]
    doc.pop("mtlsRootUrl", None)
    # The packaged document predates listAssets' `filter` and `view` parameters, which the client sends for
    # ee.data.listImages; declare them so the client accepts them.
    for resource in (doc["resources"]["projects"], doc["resources"]["projects"]["resources"]["assets"]):
        params = resource["methods"]["listAssets"]["parameters"]
        params.setdefault("filter", {"type": "string", "location": "query"})
        params.setdefault("view", {"type": "string", "location": "query"})
    # The packaged document lacks the `tables` resource that FeatureCollection.getDownloadURL calls; it has the
    # shape of `thumbnails`, with getFeatures for getPixels.
    resources = doc["resources"]["projects"]["resources"]
    # Nor does it have image.importExternal, which ee.data.startExternalImageIngestion calls.
    image_methods = resources["image"]["methods"]
    if "importExternal" not in image_methods:
        text = json.dumps(image_methods["import"]).replace("image:import", "image:importExternal").replace(
            "image.import", "image.importExternal")
        image_methods["importExternal"] = json.loads(text)
    if "tables" not in resources:
        text = json.dumps(resources["thumbnails"]).replace("thumbnails", "tables").replace("getPixels", "getFeatures")
        resources["tables"] = json.loads(text)
    return doc


@route("GET", r"/\$discovery/rest")
def get_discovery(request: Request) -> Response:
    return Response.of_json(discovery_document(request.server.url))


@route("GET", r"/v1/projects/(?P<project>[^/]+)/algorithms")
def list_algorithms(request: Request) -> dict[str, Any]:
    return algorithm_signatures()
