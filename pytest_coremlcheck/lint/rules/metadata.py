"""CML-D: metadata and descriptions shown in Xcode's model viewer and read by tools."""

from __future__ import annotations

from ..rule import Problem, rule

_METADATA = "mlmodel/format/Model.proto Metadata"
VERSION_KEY = "com.github.apple.coremltools.version"
SOURCE_KEY = "com.github.apple.coremltools.source"


@rule("CML-D001", "metadata-missing", severity="info",
      summary="author, license, short description or version string is empty.",
      why="""Xcode shows these fields on the model's page and in the generated class's
      documentation; teams use them to tell which model shipped and under what licence.""",
      fix="Set model.author, model.license, model.short_description and model.version before "
          "saving.",
      source=_METADATA)
def metadata_missing(ctx):
    metadata = ctx.top.description.metadata
    missing = [name for name, value in (("author", metadata.author),
                                        ("license", metadata.license),
                                        ("shortDescription", metadata.shortDescription),
                                        ("versionString", metadata.versionString)) if not value]
    if missing:
        yield Problem(f"metadata without {', '.join(missing)}", "metadata")


@rule("CML-D002", "feature-description-missing", severity="info",
      summary="Inputs or outputs have no description.",
      why="""FeatureDescription.shortDescription becomes the documentation of the generated
      Swift properties and the text Xcode shows next to each input and output (units, value
      range, layout).""",
      fix="Set model.input_description[name] / model.output_description[name].",
      source="mlmodel/format/Model.proto FeatureDescription")
def feature_description_missing(ctx):
    for model in ctx.models[:1]:
        missing = [f.name for f in model.features if f.kind in ("input", "output")
                   and not f.proto.shortDescription]
        if missing:
            shown = ", ".join(missing[:6]) + (f", … ({len(missing)} in all)"
                                              if len(missing) > 6 else "")
            yield Problem(f"no description for {shown}", model.loc("description"))


@rule("CML-D003", "provenance-missing", severity="info",
      summary="The coremltools version and source framework are not recorded.",
      why=f"""coremltools writes {VERSION_KEY} and {SOURCE_KEY} into metadata.userDefined.
      Without them nobody can tell which converter (and its known bugs) produced the file —
      it was built by hand or the metadata was stripped.""",
      fix="Keep the user-defined metadata coremltools writes; add it when building specs by "
          "hand.",
      source="coremltools/models/model.py _METADATA_VERSION / _METADATA_SOURCE")
def provenance_missing(ctx):
    user_defined = ctx.top.description.metadata.userDefined
    missing = [key for key in (VERSION_KEY, SOURCE_KEY) if key not in user_defined]
    if missing:
        yield Problem(f"metadata.userDefined lacks {', '.join(missing)}", "metadata")


@rule("CML-D004", "classifier-without-image-input", severity="info",
      summary="A classifier has no image input, so Vision cannot drive it.",
      why="""VNCoreMLModel needs an image input ("The model does not have a valid input
      feature of type image"). A classifier that takes a MultiArray cannot be used with
      VNCoreMLRequest; the app has to prepare the array itself.""",
      fix="Convert with ct.ImageType for the image input if the model is meant for Vision.",
      source="kingreza/SeeFood#1; tf-coreml/tf-coreml#150")
def classifier_without_image_input(ctx):
    model = ctx.top
    classifier = bool(model.description.predictedFeatureName) or model.type in (
        "neuralNetworkClassifier", "pipelineClassifier")
    if not classifier:
        return
    inputs = [f for f in model.features if f.kind == "input"]
    if inputs and not any(f.type_kind == "imageType" for f in inputs):
        yield Problem("classifier without an image input; Vision (VNCoreMLModel) cannot use it",
                      "input")
