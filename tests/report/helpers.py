"""The inner pytest session the report tests run: its conftest and test module, with a hostile
test id and check name."""

from __future__ import annotations

#: A test id and check name that would inject an element if a report did not escape it.
HOSTILE = "<img src=x onerror=alert(1)>"

INNER_CONFTEST = '''
import coremltools as ct
import pytest
import torch


class Net(torch.nn.Module):
    def __init__(self, shift=0.0):
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(6, 4)
        self.shift = shift

    def forward(self, x):
        return torch.tanh(self.fc(x)) + self.shift


class Restyle(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return torch.sigmoid(self.conv(x)) * 255


def convert_image():
    return dict(inputs=[ct.ImageType(name="image", shape=(1, 3, 24, 24), scale=1 / 255)],
                outputs=[ct.ImageType(name="styled")],
                minimum_deployment_target=ct.target.iOS16,
                compute_precision=ct.precision.FLOAT32)


@pytest.fixture(scope="session")
def good_package(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "Good.mlpackage"
    traced = torch.jit.trace(Net(), torch.ones(1, 6))
    ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 6))],
               outputs=[ct.TensorType(name="y")], compute_precision=ct.precision.FLOAT32,
               skip_model_load=True).save(str(path))
    return path
'''

INNER_TESTS = f'''
import pytest
from conftest import Net, Restyle, convert_image
from pytest_coremlcheck import tensors

HOSTILE = {HOSTILE!r}


@pytest.mark.parametrize("case", ["ok"], ids=[HOSTILE])
def test_linear(coreml_check, good_package, case):
    coreml_check(Net(), good_package, name=HOSTILE, inputs=tensors(2))


def test_linear_broken(coreml_check, good_package):
    coreml_check(Net(shift=1.0), good_package, inputs=tensors(2))


def test_restyle(coreml_check):
    coreml_check(Restyle(), convert=convert_image(), inputs=tensors(1))
'''
