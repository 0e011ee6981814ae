"""A feature-extractor + classifier pipeline, embedded and with the extractor linked.

Each is checked whole against the two source stages composed, and stage by stage; the linked
one resolves ``FeatureExtractor.mlmodelc`` through its search path to the ``.mlpackage`` beside
it (a compiled model cannot run off macOS) and says so in the report.
"""

from pathlib import Path

import pipelines
import pytest
import zoo

from pytest_coremlcheck import images

IMAGES = Path(__file__).parent.parent / "fixtures" / "images"


@pytest.fixture(scope="module")
def packages(tmp_path_factory, coreml_convert):
    return pipelines.build(tmp_path_factory.mktemp("pipelines"), coreml_convert)


@pytest.mark.parametrize("kind", ["embedded", "linked"])
def test_extractor_classifier_pipeline(coreml_check, packages, kind):
    results = coreml_check(source_stages=[zoo.feature_extractor(), zoo.classifier_head()],
                           converted=packages[kind], inputs=images(IMAGES))
    whole = results[0]
    assert any(note.startswith("stage boundary embedding") for note in whole.notes)
    if kind == "linked":
        assert any("FeatureExtractor.mlpackage" in note for note in whole.notes)
