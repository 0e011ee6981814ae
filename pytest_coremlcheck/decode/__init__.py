"""Decode-loop checks: a stateful language model, step by step, against its source.

Both sides keep their own key/value cache across calls: the converted model in a state from
``make_state()`` (reference executor), the source in whatever it holds (e.g. buffers). Step 0
feeds the prompt (the ``prefill`` function), steps 1 … ``steps`` one token each (``decode``).
Each step compares the logits (SNR, cosine, top-1 token) and picks the next token greedily
(arg-max of the last position).

``loop`` drives both sides step by step, ``verdict`` judges the loop, ``result`` holds what it
returns.
"""

from .loop import MASKED, DecoderFunctions, causal_lm_feeds, decode_check, run_decode
from .result import DecodeResult, DecodeStep
from .verdict import FP16_STATE_DEFAULT, decode_precision

__all__ = ["MASKED", "FP16_STATE_DEFAULT", "DecoderFunctions", "DecodeResult", "DecodeStep",
           "causal_lm_feeds", "decode_check", "decode_precision", "run_decode"]
