"""--coreml-fp16-mode=device-risk through a real inner pytest session."""

import pytest

TEST = '''
import coremltools as ct
import numpy as np
import torch


class Softplus(torch.nn.Module):
    def forward(self, x):
        return torch.nn.functional.softplus(x)


def test_softplus(coreml_check):
    feeds = [{"x": np.full((1, 8), 12.5, np.float32)}]
    coreml_check(Softplus(), convert=dict(inputs=[ct.TensorType(name="x", shape=(1, 8))],
                                          minimum_deployment_target=ct.target.iOS16),
                 inputs=feeds)
'''


@pytest.mark.slow  # two inner sessions, each converting the model
def test_option_selects_device_risk(pytester):
    pytester.makepyfile(test_softplus=TEST)
    typed = pytester.runpytest("-p", "no:cacheprovider", "--coreml-backend=reference",
                               "--coreml-cache=off")
    typed.assert_outcomes(passed=1)
    risky = pytester.runpytest("-p", "no:cacheprovider", "--coreml-backend=reference",
                               "--coreml-cache=off", "--coreml-fp16-mode=device-risk")
    risky.assert_outcomes(failed=1)
    risky.stdout.fnmatch_lines([
        "*backend:  reference (reference executor, fp16 device-risk (pessimistic))*",
        "*first fp16 overflow inside an op*(softplus)*exp(x) inside the op reaches*",
        "*note: device-risk: softplus*changed 8 value(s)*"])
