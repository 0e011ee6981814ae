"""What a Core ML file declares, read from the protobuf alone (no program loading, no torch),
for the executor, the checks, the inputs and the linter: ``files`` (a package's manifest and
spec file), ``loading`` (a path, MLModel or spec → ``LoadedModel``), ``features`` (declared
inputs and outputs), ``image`` (image features ↔ arrays), ``enums`` (protobuf enum names),
``describe`` (compute precision, model kind, pipeline stages, classifier outputs),
``hashing`` (content hashes of a model and of input samples)."""
