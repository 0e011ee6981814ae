"""Fixed facts about Core ML versions, used when coremltools cannot tell them at run time.

The op tables are the fallback for :mod:`.opsets` (which reads coremltools' op registry) and
the oracle its tests compare against. Spec versions: 6 = iOS15 (CoreML5), 7 = iOS16 (CoreML6),
8 = iOS17 (CoreML7), 9 = iOS18 (CoreML8).
"""

from __future__ import annotations

from ..coreml.describe import PIPELINE_KINDS

#: MIL ops available in the first ML-program opset (iOS15, CoreML5), besides those below.
BASELINE_OPS = frozenset("""
abs acos add argsort asin atan atanh avg_pool band_part batch_norm batch_to_space cast ceil
clamped_relu classify clip concat cond const conv conv_transpose cos cosh crop crop_resize cumsum
depth_to_space einsum elu equal erf exp exp2 expand_dims fill flatten2d floor floor_div gather
gather_along_axis gather_nd gelu greater greater_equal gru identity instance_norm inverse l2_norm
l2_pool layer_norm leaky_relu less less_equal linear linear_activation list_gather list_length
list_read list_scatter list_write local_response_norm log logical_and logical_not logical_or
logical_xor lstm make_list matmul max_pool maximum minimum mod mul non_maximum_suppression non_zero
not_equal one_hot pad pixel_shuffle pow prelu random_bernoulli random_categorical random_normal
random_uniform range_1d real_div reduce_argmax reduce_argmin reduce_l1_norm reduce_l2_norm
reduce_log_sum reduce_log_sum_exp reduce_max reduce_mean reduce_min reduce_prod reduce_sum
reduce_sum_square relu relu6 reshape resize_bilinear resize_nearest_neighbor reverse
reverse_sequence rnn round rsqrt scaled_tanh scatter scatter_along_axis scatter_nd select shape
sigmoid sigmoid_hard sign silu sin sinh slice_by_index slice_by_size sliding_windows softmax
softplus softplus_parametric softsign space_to_batch space_to_depth split sqrt square squeeze stack
sub tan tanh threshold thresholded_relu tile topk transpose upsample_bilinear
upsample_nearest_neighbor while_loop
""".split())

#: Ops first available after the ML-program baseline, by the spec version that added them.
NEW_OPS = {
    6: frozenset({"affine", "resample"}),
    7: frozenset({"constexpr_affine_dequantize", "constexpr_cast", "constexpr_lut_to_dense",
                  "constexpr_sparse_to_dense", "fill_like", "pixel_unshuffle", "reshape_like"}),
    8: frozenset({"quantize", "dequantize", "resize"}),
    9: frozenset({"constexpr_blockwise_shift_scale", "constexpr_lut_to_sparse",
                  "constexpr_sparse_blockwise_shift_scale", "read_state",
                  "scaled_dot_product_attention", "slice_update", "write_state"}),
}

#: Ops the ML-program backend never serialises (only the NeuralNetwork backend maps them).
NN_ONLY_OPS = frozenset({"conv_quantized"})

#: Ops the serialiser emits that are not in coremltools' op registry, with their spec version.
SERIALIZER_OPS = {"write_state": 9}

#: (op, input) → spec version that added the input.
INPUTS_ADDED = {
    ("crop_resize", "pad_value"): 7,
    ("gather", "batch_dims"): 7,
    ("gather_nd", "batch_dims"): 7,
    ("topk", "sort"): 7,
    ("topk", "return_indices"): 7,
    ("upsample_bilinear", "half_pixel_centers"): 7,
    ("crop_resize", "boxes"): 8,
    ("crop_resize", "box_indices"): 8,
    ("gather", "validate_indices"): 8,
    ("gather_nd", "validate_indices"): 8,
    ("gather_along_axis", "validate_indices"): 8,
    ("scatter", "validate_indices"): 8,
    ("scatter_nd", "validate_indices"): 8,
    ("scatter_along_axis", "validate_indices"): 8,
    ("reduce_argmax", "output_dtype"): 8,
    ("reduce_argmin", "output_dtype"): 8,
    ("topk", "output_indices_dtype"): 8,
    ("gru", "reset_after"): 9,
    ("gru", "input_bias"): 9,
    ("constexpr_lut_to_dense", "vector_axis"): 9,
}

#: Ops whose parameters may have their own float type (mixed fp16/fp32) only from iOS17.
MIXED_PRECISION_OPS = frozenset("""
batch_norm clamped_relu conv conv_transpose elu instance_norm inverse l2_norm layer_norm leaky_relu
linear linear_activation local_response_norm log matmul prelu rsqrt scaled_tanh sigmoid_hard
softplus_parametric thresholded_relu
""".split())

#: Recurrent ops that accept fp16 tensors only from iOS17.
RECURRENT_OPS = frozenset({"lstm", "gru", "rnn"})

#: NeuralNetwork layers (``NeuralNetworkLayer.layer`` oneof names) by the spec that added them.
#: Layers with field numbers 600-1400 are spec 4; these lists name the exceptions.
NN_LAYERS_SPEC2 = frozenset({"custom"})
NN_LAYERS_SPEC3 = frozenset({"resizeBilinear", "cropResize"})
NN_LAYERS_SPEC5 = frozenset({"oneHot", "cumSum", "clampedReLU", "argSort", "pooling3d",
                             "globalPooling3d", "sliceBySize", "convolution3d"})

#: Model types (``Model.Type`` oneof) by the spec version that introduced them.
MODEL_TYPE_SPEC = {
    "customModel": 3,
    "nonMaximumSuppression": 3,
    "bayesianProbitRegressor": 3,
    "textClassifier": 3,
    "wordTagger": 3,
    "visionFeaturePrint": 3,
    "kNearestNeighborsClassifier": 4,
    "itemSimilarityRecommender": 4,
    "soundAnalysisPreprocessing": 4,
    "linkedModel": 4,
    "gazetteer": 4,
    "wordEmbedding": 4,
    "serializedModel": 5,
    "mlProgram": 6,
    "audioFeaturePrint": 6,
    "classConfidenceThresholding": 8,
}

#: Model types that may be marked updatable (``validateCanModelBeUpdatable``).
UPDATABLE_TYPES = frozenset({"neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor",
                             "kNearestNeighborsClassifier", "pipeline", "pipelineClassifier",
                             "pipelineRegressor"})

#: Model types that may have zero inputs from spec 9 (``modelTypeAllowsEmptyInput``).
EMPTY_INPUT_TYPES = frozenset({"neuralNetwork", "neuralNetworkClassifier",
                               "neuralNetworkRegressor", "pipeline", "pipelineClassifier",
                               "pipelineRegressor", "mlProgram"})

#: Model types that may give optional inputs a default value (``validateDefaultOptionalValues``).
DEFAULT_VALUE_TYPES = frozenset({"neuralNetwork", "neuralNetworkClassifier",
                                 "neuralNetworkRegressor", "serializedModel", "mlProgram"})

NN_TYPES = frozenset({"neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor"})
PIPELINE_TYPES = frozenset(PIPELINE_KINDS)

#: Names the MIL frontend reserves (``NameSanitizer``); a clashing name gets ``_workaround``.
MIL_RESERVED_NAMES = frozenset("""
any bool program func tensor list dict tuple true false string bf16 fp16 fp32 fp64 int8 int16
int32 int64 uint8 uint16 uint32 uint64 state
""".split())
