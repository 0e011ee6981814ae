"""Small real models converted with coremltools for the linter tests.

Each case converts a tiny torch model (random weights) or a MIL-builder program with
``minimum_deployment_target`` set to the case's target and saves it, once per test session.
``expect`` names the rule(s) that should be reported as raising the required target.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TARGETS = ["iOS13", "iOS14", "iOS15", "iOS16", "iOS17", "iOS18", "iOS26"]
SPEC = {"iOS13": 4, "iOS14": 5, "iOS15": 6, "iOS16": 7, "iOS17": 8, "iOS18": 9, "iOS26": 10}


@dataclass(frozen=True)
class Case:
    """One model: ``build(target, directory) -> path``, the rules expected as the reason for
    its required target (empty: any rule), and whether the default test run builds it."""

    name: str
    target: str
    build: Callable[[str, Path], Path]
    expect: frozenset[str] = field(default_factory=frozenset)
    fast: bool = False

    @property
    def id(self) -> str:
        return f"{self.target}-{self.name}"


def _quiet():
    warnings.filterwarnings("ignore")
    logging.getLogger("coremltools").setLevel(logging.ERROR)


def _ct_target(target: str):
    import coremltools as ct

    return getattr(ct.target, target)


def _torch_modules():
    import torch

    class CNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3)
            self.fc = torch.nn.Linear(8, 64)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).mean((2, 3)))

    class Attention(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = torch.nn.LayerNorm(16)
            self.qkv = torch.nn.Linear(16, 48)
            self.out = torch.nn.Linear(16, 16)

        def forward(self, x):
            q, k, v = self.qkv(self.norm(x)).reshape(1, 5, 3, 2, 8).permute(2, 0, 3, 1, 4)
            y = torch.nn.functional.scaled_dot_product_attention(q, k, v)
            return self.out(y.transpose(1, 2).reshape(1, 5, 16)) + x

    class Recurrent(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(8, 16, batch_first=True)

        def forward(self, x):
            return self.lstm(x)[0]

    class Brighten(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 1)

        def forward(self, x):
            return torch.clamp(self.conv(x), 0.0, 255.0)

    class Accumulator(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("acc", torch.zeros(1, 4))

        def forward(self, x):
            self.acc += x
            return self.acc * 2

    class CumSum(torch.nn.Module):
        def forward(self, x):
            return torch.cumsum(x, 1)

    class Gru(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = torch.nn.GRU(4, 6, batch_first=True)

        def forward(self, x):
            return self.gru(x)[0]

    return {"cnn": (CNN, (1, 3, 16, 16)), "transformer": (Attention, (1, 5, 16)),
            "lstm": (Recurrent, (1, 5, 8)), "image": (Brighten, (1, 3, 16, 16)),
            "stateful": (Accumulator, (1, 4)), "cumsum": (CumSum, (1, 6)),
            "gru": (Gru, (1, 3, 4))}


def _flow_module():
    """Data-dependent control flow: scripted, it converts to ``cond`` and ``while_loop``."""
    import torch

    class Flow(torch.nn.Module):
        def forward(self, x):
            if bool(x.sum() > 0):
                y = x * 2.0
            else:
                y = x - 1.0
            while bool(y.abs().sum() < 100.0):
                y = y * 2.0 + 1.0
            return y

    return torch.jit.script(Flow().eval())


def _traced(kind: str):
    import torch

    torch.manual_seed(0)
    module_class, shape = _torch_modules()[kind]
    example = torch.rand(*shape)
    return torch.jit.trace(module_class().eval(), example), shape


def _convert(kind: str, target: str, *, inputs=None, outputs=None, nn: bool = False, **kwargs):
    import coremltools as ct

    _quiet()
    traced, shape = _traced(kind)
    inputs = inputs or [ct.TensorType(name="x", shape=shape)]
    extra = {"convert_to": "neuralnetwork"} if nn else {}
    return ct.convert(traced, inputs=inputs, outputs=outputs,
                      minimum_deployment_target=_ct_target(target), **extra, **kwargs)


def _save(model, directory: Path, name: str) -> Path:
    suffix = ".mlmodel" if model.get_spec().WhichOneof("Type") != "mlProgram" else ".mlpackage"
    path = directory / f"{name}{suffix}"
    model.save(str(path))
    return path


def plain(kind: str, nn: bool = False):
    def build(target: str, directory: Path) -> Path:
        return _save(_convert(kind, target, nn=nn), directory, f"{kind}_{target}")

    return build


def control_flow():
    def build(target: str, directory: Path) -> Path:
        import coremltools as ct

        _quiet()
        model = ct.convert(_flow_module(), inputs=[ct.TensorType(name="x", shape=(1, 3))],
                           minimum_deployment_target=_ct_target(target))
        return _save(model, directory, f"flow_{target}")

    return build


def image_io(nn: bool = False):
    def build(target: str, directory: Path) -> Path:
        import coremltools as ct

        model = _convert("image", target, nn=nn,
                         inputs=[ct.ImageType(name="image", shape=(1, 3, 16, 16))],
                         outputs=[ct.ImageType(name="brightened")])
        return _save(model, directory, f"image_{target}")

    return build


def flexible(enumerated: bool, nn: bool = False):
    def build(target: str, directory: Path) -> Path:
        import coremltools as ct

        if enumerated:
            shape = ct.EnumeratedShapes(shapes=[(1, 3, 16, 16), (1, 3, 32, 32)])
        else:
            shape = (1, 3, ct.RangeDim(8, 64, 16), ct.RangeDim(8, 64, 16))
        model = _convert("cnn", target, nn=nn, inputs=[ct.TensorType(name="x", shape=shape)])
        return _save(model, directory, f"flex_{'enum' if enumerated else 'range'}_{target}")

    return build


def fp32_io():
    def build(target: str, directory: Path) -> Path:
        import coremltools as ct

        model = _convert("cnn", target,
                         inputs=[ct.TensorType(name="x", shape=(1, 3, 16, 16), dtype=np.float32)],
                         outputs=[ct.TensorType(name="y", dtype=np.float32)])
        return _save(model, directory, f"fp32io_{target}")

    return build


def int8_io():
    def build(target: str, directory: Path) -> Path:
        import coremltools as ct

        model = _convert("cnn", target,
                         inputs=[ct.TensorType(name="x", shape=(1, 3, 16, 16), dtype=np.int8)])
        return _save(model, directory, f"int8io_{target}")

    return build


def compressed(method: str):
    """Weight compression of the CNN with coremltools.optimize.coreml (threshold 0 so the tiny
    weights are compressed too)."""

    def build(target: str, directory: Path) -> Path:
        import coremltools as ct
        import coremltools.optimize.coreml as cto

        model = _convert("cnn", target,
                         inputs=[ct.TensorType(name="x", shape=(1, 3, 16, 16), dtype=np.float32)],
                         outputs=[ct.TensorType(name="y", dtype=np.float32)])
        if method == "lut4":
            config = cto.OpPalettizerConfig(mode="uniform", nbits=4, weight_threshold=0)
            model = cto.palettize_weights(model, cto.OptimizationConfig(global_config=config))
        elif method == "int8":
            config = cto.OpLinearQuantizerConfig(weight_threshold=0)
            model = cto.linear_quantize_weights(model,
                                                cto.OptimizationConfig(global_config=config))
        elif method == "sparse":
            config = cto.OpMagnitudePrunerConfig(target_sparsity=0.5, weight_threshold=0)
            model = cto.prune_weights(model, cto.OptimizationConfig(global_config=config))
        elif method == "int4_block":
            config = cto.OpLinearQuantizerConfig(dtype="int4", granularity="per_block",
                                                 block_size=4, weight_threshold=0)
            model = cto.linear_quantize_weights(model,
                                                cto.OptimizationConfig(global_config=config))
        elif method == "lut_grouped":
            config = cto.OpPalettizerConfig(mode="uniform", nbits=2, weight_threshold=0,
                                            granularity="per_grouped_channel", group_size=4)
            model = cto.palettize_weights(model, cto.OptimizationConfig(global_config=config))
        elif method == "nn_int8":
            from coremltools.models.neural_network import quantization_utils

            model = quantization_utils.quantize_weights(model, nbits=8)
        else:  # pragma: no cover
            raise ValueError(method)
        return _save(model, directory, f"{method}_{target}")

    return build


def activation_quantized():
    """A MIL-builder program with quantize/dequantize ops (W8A8 activations)."""

    def build(target: str, directory: Path) -> Path:
        import coremltools as ct
        from coremltools.converters.mil import Builder as mb

        _quiet()

        @mb.program(input_specs=[mb.TensorSpec(shape=(1, 8))], opset_version=_ct_target(target))
        def program(x):
            q = mb.quantize(input=x, scale=np.float32(0.05), zero_point=np.int8(0),
                            output_dtype="int8")
            y = mb.dequantize(input=q, scale=np.float32(0.05), zero_point=np.int8(0))
            return mb.relu(x=y, name="y")

        model = ct.convert(program, minimum_deployment_target=_ct_target(target),
                           compute_precision=ct.precision.FLOAT32)
        return _save(model, directory, f"w8a8_{target}")

    return build


def classifier():
    def build(target: str, directory: Path) -> Path:
        import coremltools as ct

        model = _convert("cnn", target,
                         classifier_config=ct.ClassifierConfig([f"c{i}" for i in range(64)]))
        return _save(model, directory, f"classifier_{target}")

    return build


def stateful():
    def build(target: str, directory: Path) -> Path:
        import coremltools as ct

        state = ct.StateType(wrapped_type=ct.TensorType(shape=(1, 4)), name="acc")
        model = _convert("stateful", target, states=[state])
        return _save(model, directory, f"stateful_{target}")

    return build


def multifunction():
    def build(target: str, directory: Path) -> Path:
        import coremltools as ct

        small = _save(_convert("cnn", target), directory, f"mf_small_{target}")
        big = _convert("cnn", target,
                       inputs=[ct.TensorType(name="x", shape=(1, 3, 24, 24))])
        big = _save(big, directory, f"mf_big_{target}")
        descriptor = ct.utils.MultiFunctionDescriptor()
        descriptor.add_function(str(small), "main", "small")
        descriptor.add_function(str(big), "main", "big")
        descriptor.default_function_name = "small"
        path = directory / f"multifunction_{target}.mlpackage"
        ct.utils.save_multifunction(descriptor, str(path))
        return path

    return build


#: (target, case name) pairs built in the default run; the rest are marked slow.
FAST = {
    ("iOS13", "nn_cnn"), ("iOS13", "nn_lstm"), ("iOS14", "nn_cumsum"), ("iOS14", "nn_image"),
    ("iOS14", "nn_int8"), ("iOS15", "cnn"), ("iOS15", "flex_range"), ("iOS15", "transformer"),
    ("iOS16", "cnn"), ("iOS16", "lut4"), ("iOS16", "image"), ("iOS16", "flex_enum"),
    ("iOS17", "w8a8"), ("iOS17", "lstm"), ("iOS17", "int8"), ("iOS18", "transformer"),
    ("iOS18", "stateful"), ("iOS18", "multifunction"), ("iOS18", "int4_block"),
    ("iOS18", "lut_grouped"), ("iOS26", "int8_io"), ("iOS26", "cnn"), ("iOS16", "classifier"),
    ("iOS17", "gru"), ("iOS16", "control_flow"),
}


def _cases() -> list[Case]:
    f = frozenset
    cases = []
    for target in ("iOS13", "iOS14"):
        cases += [
            Case("nn_cnn", target, plain("cnn", nn=True), f({"CML-T018"})),
            Case("nn_lstm", target, plain("lstm", nn=True)),
            Case("nn_transformer", target, plain("transformer", nn=True)),
            Case("nn_image", target, image_io(nn=True)),
            Case("nn_flexible", target, flexible(False, nn=True)),
            Case("nn_int8", target, compressed("nn_int8")),
        ]
    cases.append(Case("nn_cumsum", "iOS14", plain("cumsum", nn=True), f({"CML-N003"})))
    for target in ("iOS15", "iOS16", "iOS17", "iOS18", "iOS26"):
        by_opset = f({"CML-V006"}) if target == "iOS15" else f({"CML-V007"})
        cases += [
            Case("cnn", target, plain("cnn"), f({"CML-T001"}) if target == "iOS16" else by_opset),
            Case("transformer", target, plain("transformer"),
                 f({"CML-O001"}) if target == "iOS18" else frozenset()),
            Case("lstm", target, plain("lstm")),
            Case("image", target, image_io(), by_opset),
            Case("flex_range", target, flexible(False)),
            Case("flex_enum", target, flexible(True)),
            Case("fp32_io", target, fp32_io(), by_opset),
        ]
    for target in ("iOS16", "iOS17"):
        reason = f({"CML-Q001"}) if target == "iOS16" else f({"CML-V007"})
        cases += [Case("lut4", target, compressed("lut4"), reason),
                  Case("int8", target, compressed("int8"), reason),
                  Case("sparse", target, compressed("sparse"), reason)]
    cases.append(Case("classifier", "iOS16", classifier(), f({"CML-T001"})))
    cases.append(Case("gru", "iOS17", plain("gru")))
    cases.append(Case("control_flow", "iOS16", control_flow()))
    cases.append(Case("w8a8", "iOS17", activation_quantized(), f({"CML-Q002"})))
    cases.append(Case("w8a8", "iOS18", activation_quantized(), f({"CML-V007"})))
    for target in ("iOS18", "iOS26"):
        cases += [
            Case("int8", target, compressed("int8"), f({"CML-Q005"})),
            Case("int4_block", target, compressed("int4_block"), f({"CML-Q003", "CML-Q004"})),
            Case("lut_grouped", target, compressed("lut_grouped"), f({"CML-Q006"})),
            Case("stateful", target, stateful(), f({"CML-T006"})),
            Case("multifunction", target, multifunction(), f({"CML-T008"})),
        ]
    cases.append(Case("int8_io", "iOS26", int8_io(), f({"CML-T003"})))
    return [_finish(c) for c in cases]


def _finish(case: Case) -> Case:
    expect = case.expect
    # iOS26 adds no op versions: content needs iOS18 at most, the opset string needs iOS26.
    if case.target == "iOS26" and case.name != "int8_io":
        expect = frozenset({"CML-V007"})
    return Case(case.name, case.target, case.build, expect,
                (case.target, case.name) in FAST)


CASES = _cases()
BY_ID = {case.id: case for case in CASES}


def convert_module(module, shapes, target: str, path: Path, **kwargs) -> Path:
    """Trace ``module`` on random inputs of ``shapes``, convert for ``target``, save to
    ``path`` (inputs named in0, in1, …)."""
    import coremltools as ct
    import torch

    _quiet()
    torch.manual_seed(0)
    examples = [torch.rand(*shape) for shape in shapes]
    traced = torch.jit.trace(module.eval(), examples)
    inputs = kwargs.pop("inputs", None) or [ct.TensorType(name=f"in{i}", shape=shape)
                                            for i, shape in enumerate(shapes)]
    model = ct.convert(traced, inputs=inputs, minimum_deployment_target=_ct_target(target),
                       **kwargs)
    model.save(str(path))
    return path
