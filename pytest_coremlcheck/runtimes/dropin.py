"""Drop-in predictions: ``coremltools.models.MLModel.predict`` through the reference executor.

With ``pytest --coreml-backend=reference`` (or ini ``coreml_backend = reference``) on a machine
without Core ML, an existing test suite that calls ``MLModel.predict`` / ``make_state`` runs
unchanged: each MLModel gets a ``ReferenceModel`` built on first use and cached on the instance.
Where Core ML predicts, nothing is patched.
"""

from __future__ import annotations

from collections.abc import Callable

_CACHE_ATTRIBUTE = "_coremlcheck_reference_model"


def install(fp16_mode: str = "typed") -> Callable[[], None]:
    """Patch ``MLModel.predict`` and ``MLModel.make_state``; returns the undo function."""
    from coremltools.models import MLModel

    from ..reference import ReferenceModel

    original = {name: MLModel.__dict__.get(name) for name in ("predict", "make_state")}

    def reference_of(model) -> ReferenceModel:
        cached = model.__dict__.get(_CACHE_ATTRIBUTE)
        if cached is None:
            function = getattr(model, "function_name", None)
            cached = ReferenceModel(model, fp16_mode=fp16_mode, function_name=function)
            model.__dict__[_CACHE_ATTRIBUTE] = cached
        return cached

    def predict(self, data, state=None):
        """``MLModel.predict`` run by the reference executor (coremltools on this OS cannot)."""
        if isinstance(data, list):
            return [reference_of(self).predict(item, state=state) for item in data]
        return reference_of(self).predict(data, state=state)

    def make_state(self):
        return reference_of(self).make_state()

    MLModel.predict = predict
    MLModel.make_state = make_state

    def uninstall() -> None:
        for name, value in original.items():
            if value is None:
                delattr(MLModel, name)
            else:
                setattr(MLModel, name, value)

    return uninstall
