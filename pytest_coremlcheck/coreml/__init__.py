"""What a Core ML file declares, read from the protobuf alone (no program loading, no torch):
``describe`` (compute precision, model kind), ``files`` (the spec of an .mlpackage or .mlmodel,
shared by the executor and the linter)."""
