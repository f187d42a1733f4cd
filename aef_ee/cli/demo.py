"""``aef-ee demo``: the whole mission, offline, on the embedded local Earth Engine and the real demo data.

Stages (each prints what it does; outputs under ``--out``, default ``outputs/demo``):

1. start the local engine on the demo catalog (Drive and Cloud Storage are folders under ``--out``);
2. export training videos (Sentinel-2, Sentinel-1, ERA5-Land stand-in, DEM) over the Belgium demo patch;
3. the model: the ``tiny`` checkpoint the project ships (``training/checkpoints/tiny-belgium``, trained on the
   repository's real image series: the WorldCereal Belgium cube, the Slovenia patch, BigEarthNet patches — see
   :data:`TRAIN_COMMAND`), or train it now on the exported videos with ``--train``;
4. embed the patch for 2021 into int8 COGs in the local bucket ``gs://aef-demo/embeddings/``;
5. register them as the ImageCollection ``projects/local/assets/aef_demo_embeddings``;
6. use them: similarity search from a labelled point, k-means clustering, a kNN classification trained on
   WorldCereal's cropland map (model output, used as labels) with its accuracy;
7. export the classified raster to the local Drive folder as a COG;
8. write a map of the layers (the Sentinel-2 composite beside the embedding and its products) as a PNG and an HTML
   page.

Re-running reuses what exists (videos, checkpoint, COGs, registered assets).
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import time
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run", "run_demo", "DEMO_REGION", "DEMO_YEAR", "TRAIN_COMMAND", "shipped_checkpoint"]

# The Belgium demo patch (1 km x 1 km of fields near Huy, EPSG:32631), west, south, east, north in degrees.
DEMO_REGION = (5.3189, 50.6289, 5.3334, 50.6375)
DEMO_YEAR = 2021
DEMO_PERIOD = ("2020-11-01", "2021-11-01")
DEMO_SOURCES = ("s2", "s1", "era5", "dem")
# The demo images hold these bands only (no B8A; AgERA5 has temperature and precipitation).
DEMO_BANDS = {"s2": ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B11", "B12"],
              "era5": ["temperature_2m", "total_precipitation_sum"]}
COLLECTION = "projects/local/assets/aef_demo_embeddings"
LABELS = "projects/local/assets/worldcereal_belgium_cropland"
BUCKET = "aef-demo"
TRAIN_COMMAND = ("python -m aef_ee_training.train --config tiny --data <the repository's image series as videos> "
                 "(see training/checkpoints/tiny-belgium/README.md)")


def shipped_checkpoint() -> Path:
    """The tiny checkpoint the project ships (package data of ``aef_ee_training``)."""
    import importlib.resources

    return Path(str(importlib.resources.files("aef_ee_training").joinpath("checkpoints", "tiny-belgium")))


HELP = "the whole mission, offline, on the embedded local engine"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="outputs/demo", help="where the demo writes its outputs")
    parser.add_argument("--catalog", help="catalog directory (default: the demo catalog, built on first use)")
    parser.add_argument("--train", action="store_true",
                        help="train the tiny model now instead of loading the shipped checkpoint")
    parser.add_argument("--steps", type=int, default=None, help="training steps with --train (default: config)")


def run(args: argparse.Namespace) -> int:
    run_demo(Path(args.out), catalog=args.catalog, train=args.train, steps=args.steps)
    return 0


class _Stages:
    def __init__(self, total: int) -> None:
        self.total = total
        self.n = 0
        self.started = time.perf_counter()
        self.stage_started = self.started

    def __call__(self, text: str) -> None:
        now = time.perf_counter()
        if self.n:
            print(f"      done in {now - self.stage_started:.1f} s", flush=True)
        self.n += 1
        self.stage_started = now
        print(f"[{self.n}/{self.total}] {text}", flush=True)

    def finish(self) -> float:
        now = time.perf_counter()
        print(f"      done in {now - self.stage_started:.1f} s", flush=True)
        return now - self.started


def run_demo(out: Path, *, catalog: str | None = None, train: bool = False, steps: int | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Runs every stage; returns the outputs (paths) and the figures it printed."""
    import ee

    import aef_ee
    from aef_ee import ops
    from aef_ee.fields.register import register_embeddings
    from aef_ee.fields.collection import open_embeddings
    from aef_ee.videos.export import ExportOptions, ExportRequest, SiteSampling, export_videos

    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    stage = _Stages(8)
    results: dict[str, Any] = {}

    stage("starting the local Earth Engine on the demo catalog")
    server = aef_ee.initialize("local", catalog=catalog)
    # Cloud Storage and Drive stand-ins of the state folder ($AEF_EE_HOME), so a new process finds the outputs.
    buckets, drive = Path(server.settings["bucket_dir"]), Path(server.settings["drive_dir"])
    print(f"      {server.url} serving {server.catalog.root}")

    stage(f"exporting training videos ({', '.join(DEMO_SOURCES)}) over the Belgium patch, {DEMO_PERIOD[0]}.."
          f"{DEMO_PERIOD[1]}")
    videos = out / "videos"
    exported = export_videos(
        videos, ExportRequest(sources=DEMO_SOURCES, bands=DEMO_BANDS),
        SiteSampling(start=DEMO_PERIOD[0], end=DEMO_PERIOD[1], region=ee.Geometry.Rectangle(list(DEMO_REGION)),
                     n_sites=9, size=32),
        options=ExportOptions(progress=progress))
    print(f"      {exported.sites_written} sites written ({exported.sites_skipped} already there, "
          f"{exported.sites_empty} without data) -> {videos}")

    from aef_ee_training.train import get_config

    config = get_config("tiny")
    if train or not (shipped_checkpoint() / "checkpoints").exists():
        stage(f"training the tiny model on the exported videos ({'requested' if train else 'no shipped checkpoint'})")
        from aef_ee_training.train import train_and_evaluate

        config.data_dir = str(videos)
        if steps:
            config.num_steps = steps
        workdir, training_data = out / "model", videos
        metrics = train_and_evaluate(config, workdir)
        print(f"      final loss {metrics['loss']:.4f} -> {workdir}")
    else:
        stage(f"loading the shipped tiny checkpoint {shipped_checkpoint()} (reproduce: {TRAIN_COMMAND})")
        # The checkpoint carries its config and normalisation statistics (inference.json): no training data needed.
        workdir, training_data = shipped_checkpoint(), None
        config = None

    stage(f"embedding the patch for {DEMO_YEAR} into int8 COGs in gs://{BUCKET}/embeddings/")
    from aef_ee_training.fields import embed_region

    fields_dir = buckets / BUCKET / "embeddings"
    report = embed_region(workdir=workdir, config=config, training_data=training_data, region=DEMO_REGION,
                          year=DEMO_YEAR, out_dir=fields_dir, staging_dir=out / "tile-videos", progress=progress)
    cogs = sorted(fields_dir.glob("*.tif"))
    print(f"      {len(report.written)} tiles written, {len(report.skipped)} already there"
          + (f"; {report.pixels_per_second:.0f} pixels/s" if report.written else ""))
    results["cogs"] = [str(p) for p in cogs]

    stage(f"registering {len(cogs)} COGs as {COLLECTION}")
    reg = register_embeddings(COLLECTION, [f"gs://{BUCKET}/embeddings/{p.name}" for p in cogs],
                              bucket_dir=buckets, progress=progress)
    print(f"      {len(reg.created)} registered, {len(reg.skipped)} already registered")

    stage("similarity search, clustering and a kNN classification on the registered embeddings")
    region = ee.Geometry.Rectangle(list(DEMO_REGION))
    embeddings = open_embeddings(DEMO_YEAR, region, collection=COLLECTION)
    labels_image = ee.Image(LABELS).select("cropland")
    points = labels_image.stratifiedSample(numPoints=20, classBand="cropland", region=region, scale=10, seed=7,
                                           geometries=True)
    reference_point = points.filter(ee.Filter.eq("cropland", 1)).first().geometry()
    reference = ops.reference_vector(embeddings, reference_point)
    similarity = ops.similarity(embeddings, reference)
    areas = ops.similar_areas(similarity, region, threshold=0.9)
    similar_m2 = areas.aggregate_sum("area_m2").getInfo()
    print(f"      pixels at least 0.9 similar to a cropland point: {similar_m2 / 1e4:.2f} ha in "
          f"{areas.size().getInfo()} polygons")
    clusters = ops.cluster(embeddings, region, n_clusters=4, num_pixels=2000, seed=1)
    cluster_area = {k: round(v / 1e4, 2) for k, v in ops.cluster_areas(clusters.image, region).getInfo().items()}
    print(f"      k-means (k=4) cluster areas, ha: {cluster_area}")
    train_labels, validation = ops.split_labels(points, fraction=0.5, seed=3)
    classifier, _ = ops.train_classifier(embeddings, train_labels, "cropland", k=3)
    classified = ops.classify(embeddings, classifier).toUint8()
    accuracy = ops.accuracy_report(classifier, ops.sample_labels(embeddings, validation, "cropland"), "cropland")
    print(f"      kNN (k=3) cropland vs other, validation: overall {accuracy.overall:.3f}, balanced "
          f"{accuracy.balanced:.3f}, kappa {accuracy.kappa:.3f} on {accuracy.n} points "
          "(labels: WorldCereal model output)")
    results.update(similar_m2=similar_m2, cluster_area_ha=cluster_area, accuracy=accuracy.overall,
                   balanced_accuracy=accuracy.balanced, kappa=accuracy.kappa)

    stage("exporting the classified raster to the local Drive folder")
    task = ops.export_image_to_drive(classified, region, description="cropland_knn_2021", folder="aef-demo",
                                     wait_for=True, progress=progress)
    drive_file = drive / "aef-demo" / "cropland_knn_2021.tif"
    print(f"      task {task.status()['state'].lower()} -> {drive_file}")
    results["classified_cog"] = str(drive_file)

    stage("writing the map of the layers (PNG and HTML)")
    # The input beside the output: field boundaries visible in the composite should be visible in the embedding.
    s2 = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED").filterBounds(region).filterDate(*DEMO_PERIOD)
    # A composite has no projection of its own (Earth Engine's WGS84 default): render it on the scenes' UTM grid.
    composite = s2.median().select(["B4", "B3", "B2"]).setDefaultProjection(s2.first().select("B4").projection())
    layers = {
        f"Sentinel-2 median composite {DEMO_PERIOD[0][:7]}..{DEMO_PERIOD[1][:7]} (B4, B3, B2)":
            composite.visualize(min=0, max=1500),
        "Embedding (A01, A16, A09 as RGB)": embeddings.select(["A01", "A16", "A09"]).visualize(min=-0.3, max=0.3),
        "Similarity to a cropland point": similarity.visualize(min=0, max=1, palette=["000004", "b73779", "fcfdbf"]),
        "k-means clusters (k=4)": clusters.image.visualize(min=0, max=3,
                                                           palette=["4e79a7", "f28e2b", "e15759", "59a14f"]),
        "kNN cropland (green) vs other": classified.visualize(min=0, max=1, palette=["d9d9d9", "1a9850"]),
    }
    png, page = _write_map(out, layers, region, accuracy)
    results.update(map_png=str(png), map_html=str(page))
    seconds = stage.finish()
    print(f"\nThe demo finished in {seconds:.0f} s. Outputs:")
    for label, path in (("training videos", videos), ("model checkpoint", workdir), ("embedding COGs", fields_dir),
                        ("registered collection", COLLECTION), ("classified COG (Drive)", drive_file),
                        ("map (PNG)", png), ("map (HTML)", page)):
        print(f"  {label:24s} {path}")
    results["seconds"] = seconds
    (out / "demo_results.json").write_text(json.dumps(results, indent=1, default=str))
    return results


def _write_map(out: Path, layers: dict[str, Any], region: Any, accuracy: Any) -> tuple[Path, Path]:
    """Renders each visualised layer through the engine's thumbnail endpoint and lays them out."""
    import urllib.request

    from PIL import Image, ImageDraw

    panels = []
    for title, image in layers.items():
        url = image.getThumbURL({"region": region, "dimensions": 256, "format": "png"})
        with urllib.request.urlopen(url) as response:  # the local engine on 127.0.0.1
            panels.append((title, Image.open(io.BytesIO(response.read())).convert("RGBA")))
    width = sum(p.width for _, p in panels) + 20 * (len(panels) + 1)
    height = max(p.height for _, p in panels) + 60
    canvas = Image.new("RGBA", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    x = 20
    for title, panel in panels:
        canvas.alpha_composite(panel, (x, 40))
        draw.text((x, 12), title, fill="black")
        x += panel.width + 20
    png = out / "map.png"
    tmp = png.with_suffix(".png.tmp")
    canvas.convert("RGB").save(tmp, format="PNG")
    tmp.replace(png)
    figures = "".join(
        f"<figure><img alt='{html.escape(t)}' src='data:image/png;base64,"
        f"{base64.b64encode(_png_bytes(p)).decode()}'><figcaption>{html.escape(t)}</figcaption></figure>"
        for t, p in panels)
    rows = "".join(f"<tr><td>{c}</td><td>{accuracy.producers[c]:.3f}</td><td>{accuracy.consumers[c]:.3f}</td></tr>"
                   for c in accuracy.order)
    page = out / "map.html"
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>aef-ee demo</title><style>"
        "body{font-family:sans-serif;margin:2em}figure{display:inline-block;margin:0 1em 1em 0}"
        "img{image-rendering:pixelated;width:256px;border:1px solid #ccc}td,th{padding:0 1em}</style></head><body>"
        f"<h1>aef-ee demo: embedding field {DEMO_YEAR}, Belgium patch</h1>{figures}"
        f"<h2>kNN accuracy (validation, {accuracy.n} points; labels are WorldCereal model output)</h2>"
        f"<p>overall {accuracy.overall:.3f}, balanced {accuracy.balanced:.3f}, kappa {accuracy.kappa:.3f}</p>"
        f"<table><tr><th>class</th><th>producer's</th><th>consumer's</th></tr>{rows}</table></body></html>")
    return png, page


def _png_bytes(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
