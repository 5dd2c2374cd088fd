// Operator codes as numbered by the TFLite schema's BuiltinOperator enum.

package model

// Builtin operator codes, as numbered by the TFLite schema.
const (
	OpAdd                          BuiltinOp = 0
	OpAveragePool2D                BuiltinOp = 1
	OpConcatenation                BuiltinOp = 2
	OpConv2D                       BuiltinOp = 3
	OpDepthwiseConv2D              BuiltinOp = 4
	OpDepthToSpace                 BuiltinOp = 5
	OpDequantize                   BuiltinOp = 6
	OpEmbeddingLookup              BuiltinOp = 7
	OpFloor                        BuiltinOp = 8
	OpFullyConnected               BuiltinOp = 9
	OpHashtableLookup              BuiltinOp = 10
	OpL2Normalization              BuiltinOp = 11
	OpL2Pool2D                     BuiltinOp = 12
	OpLocalResponseNormalization   BuiltinOp = 13
	OpLogistic                     BuiltinOp = 14
	OpLshProjection                BuiltinOp = 15
	OpLstm                         BuiltinOp = 16
	OpMaxPool2D                    BuiltinOp = 17
	OpMul                          BuiltinOp = 18
	OpRelu                         BuiltinOp = 19
	OpReluN1To1                    BuiltinOp = 20
	OpRelu6                        BuiltinOp = 21
	OpReshape                      BuiltinOp = 22
	OpResizeBilinear               BuiltinOp = 23
	OpRnn                          BuiltinOp = 24
	OpSoftmax                      BuiltinOp = 25
	OpSpaceToDepth                 BuiltinOp = 26
	OpSvdf                         BuiltinOp = 27
	OpTanh                         BuiltinOp = 28
	OpConcatEmbeddings             BuiltinOp = 29
	OpSkipGram                     BuiltinOp = 30
	OpCall                         BuiltinOp = 31
	OpCustom                       BuiltinOp = 32
	OpEmbeddingLookupSparse        BuiltinOp = 33
	OpPad                          BuiltinOp = 34
	OpUnidirectionalSequenceRnn    BuiltinOp = 35
	OpGather                       BuiltinOp = 36
	OpBatchToSpaceND               BuiltinOp = 37
	OpSpaceToBatchND               BuiltinOp = 38
	OpTranspose                    BuiltinOp = 39
	OpMean                         BuiltinOp = 40
	OpSub                          BuiltinOp = 41
	OpDiv                          BuiltinOp = 42
	OpSqueeze                      BuiltinOp = 43
	OpUnidirectionalSequenceLstm   BuiltinOp = 44
	OpStridedSlice                 BuiltinOp = 45
	OpBidirectionalSequenceRnn     BuiltinOp = 46
	OpExp                          BuiltinOp = 47
	OpTopkV2                       BuiltinOp = 48
	OpSplit                        BuiltinOp = 49
	OpLogSoftmax                   BuiltinOp = 50
	OpDelegate                     BuiltinOp = 51
	OpBidirectionalSequenceLstm    BuiltinOp = 52
	OpCast                         BuiltinOp = 53
	OpPrelu                        BuiltinOp = 54
	OpMaximum                      BuiltinOp = 55
	OpArgMax                       BuiltinOp = 56
	OpMinimum                      BuiltinOp = 57
	OpLess                         BuiltinOp = 58
	OpNeg                          BuiltinOp = 59
	OpPadv2                        BuiltinOp = 60
	OpGreater                      BuiltinOp = 61
	OpGreaterEqual                 BuiltinOp = 62
	OpLessEqual                    BuiltinOp = 63
	OpSelect                       BuiltinOp = 64
	OpSlice                        BuiltinOp = 65
	OpSin                          BuiltinOp = 66
	OpTransposeConv                BuiltinOp = 67
	OpSparseToDense                BuiltinOp = 68
	OpTile                         BuiltinOp = 69
	OpExpandDims                   BuiltinOp = 70
	OpEqual                        BuiltinOp = 71
	OpNotEqual                     BuiltinOp = 72
	OpLog                          BuiltinOp = 73
	OpSum                          BuiltinOp = 74
	OpSqrt                         BuiltinOp = 75
	OpRsqrt                        BuiltinOp = 76
	OpShape                        BuiltinOp = 77
	OpPow                          BuiltinOp = 78
	OpArgMin                       BuiltinOp = 79
	OpFakeQuant                    BuiltinOp = 80
	OpReduceProd                   BuiltinOp = 81
	OpReduceMax                    BuiltinOp = 82
	OpPack                         BuiltinOp = 83
	OpLogicalOr                    BuiltinOp = 84
	OpOneHot                       BuiltinOp = 85
	OpLogicalAnd                   BuiltinOp = 86
	OpLogicalNot                   BuiltinOp = 87
	OpUnpack                       BuiltinOp = 88
	OpReduceMin                    BuiltinOp = 89
	OpFloorDiv                     BuiltinOp = 90
	OpReduceAny                    BuiltinOp = 91
	OpSquare                       BuiltinOp = 92
	OpZerosLike                    BuiltinOp = 93
	OpFill                         BuiltinOp = 94
	OpFloorMod                     BuiltinOp = 95
	OpRange                        BuiltinOp = 96
	OpResizeNearestNeighbor        BuiltinOp = 97
	OpLeakyRelu                    BuiltinOp = 98
	OpSquaredDifference            BuiltinOp = 99
	OpMirrorPad                    BuiltinOp = 100
	OpAbs                          BuiltinOp = 101
	OpSplitV                       BuiltinOp = 102
	OpUnique                       BuiltinOp = 103
	OpCeil                         BuiltinOp = 104
	OpReverseV2                    BuiltinOp = 105
	OpAddN                         BuiltinOp = 106
	OpGatherND                     BuiltinOp = 107
	OpCos                          BuiltinOp = 108
	OpWhere                        BuiltinOp = 109
	OpRank                         BuiltinOp = 110
	OpElu                          BuiltinOp = 111
	OpReverseSequence              BuiltinOp = 112
	OpMatrixDiag                   BuiltinOp = 113
	OpQuantize                     BuiltinOp = 114
	OpMatrixSetDiag                BuiltinOp = 115
	OpRound                        BuiltinOp = 116
	OpHardSwish                    BuiltinOp = 117
	OpIf                           BuiltinOp = 118
	OpWhile                        BuiltinOp = 119
	OpNonMaxSuppressionV4          BuiltinOp = 120
	OpNonMaxSuppressionV5          BuiltinOp = 121
	OpScatterND                    BuiltinOp = 122
	OpSelectV2                     BuiltinOp = 123
	OpDensify                      BuiltinOp = 124
	OpSegmentSum                   BuiltinOp = 125
	OpBatchMatmul                  BuiltinOp = 126
	OpPlaceholderForGreaterOpCodes BuiltinOp = 127
	OpCumsum                       BuiltinOp = 128
	OpCallOnce                     BuiltinOp = 129
	OpBroadcastTo                  BuiltinOp = 130
	OpRfft2D                       BuiltinOp = 131
	OpConv3d                       BuiltinOp = 132
	OpImag                         BuiltinOp = 133
	OpReal                         BuiltinOp = 134
	OpComplexAbs                   BuiltinOp = 135
	OpHashtable                    BuiltinOp = 136
	OpHashtableFind                BuiltinOp = 137
	OpHashtableImport              BuiltinOp = 138
	OpHashtableSize                BuiltinOp = 139
	OpReduceAll                    BuiltinOp = 140
	OpConv3dTranspose              BuiltinOp = 141
	OpVarHandle                    BuiltinOp = 142
	OpReadVariable                 BuiltinOp = 143
	OpAssignVariable               BuiltinOp = 144
	OpBroadcastArgs                BuiltinOp = 145
	OpRandomStandardNormal         BuiltinOp = 146
	OpBucketize                    BuiltinOp = 147
	OpRandomUniform                BuiltinOp = 148
	OpMultinomial                  BuiltinOp = 149
	OpGelu                         BuiltinOp = 150
	OpDynamicUpdateSlice           BuiltinOp = 151
	OpRelu0To1                     BuiltinOp = 152
	OpUnsortedSegmentProd          BuiltinOp = 153
	OpUnsortedSegmentMax           BuiltinOp = 154
	OpUnsortedSegmentSum           BuiltinOp = 155
	OpAtan2                        BuiltinOp = 156
	OpUnsortedSegmentMin           BuiltinOp = 157
	OpSign                         BuiltinOp = 158
	OpBitcast                      BuiltinOp = 159
	OpBitwiseXor                   BuiltinOp = 160
	OpRightShift                   BuiltinOp = 161
)

var builtinOpNames = [...]string{
	"ADD",
	"AVERAGE_POOL_2D",
	"CONCATENATION",
	"CONV_2D",
	"DEPTHWISE_CONV_2D",
	"DEPTH_TO_SPACE",
	"DEQUANTIZE",
	"EMBEDDING_LOOKUP",
	"FLOOR",
	"FULLY_CONNECTED",
	"HASHTABLE_LOOKUP",
	"L2_NORMALIZATION",
	"L2_POOL_2D",
	"LOCAL_RESPONSE_NORMALIZATION",
	"LOGISTIC",
	"LSH_PROJECTION",
	"LSTM",
	"MAX_POOL_2D",
	"MUL",
	"RELU",
	"RELU_N1_TO_1",
	"RELU6",
	"RESHAPE",
	"RESIZE_BILINEAR",
	"RNN",
	"SOFTMAX",
	"SPACE_TO_DEPTH",
	"SVDF",
	"TANH",
	"CONCAT_EMBEDDINGS",
	"SKIP_GRAM",
	"CALL",
	"CUSTOM",
	"EMBEDDING_LOOKUP_SPARSE",
	"PAD",
	"UNIDIRECTIONAL_SEQUENCE_RNN",
	"GATHER",
	"BATCH_TO_SPACE_ND",
	"SPACE_TO_BATCH_ND",
	"TRANSPOSE",
	"MEAN",
	"SUB",
	"DIV",
	"SQUEEZE",
	"UNIDIRECTIONAL_SEQUENCE_LSTM",
	"STRIDED_SLICE",
	"BIDIRECTIONAL_SEQUENCE_RNN",
	"EXP",
	"TOPK_V2",
	"SPLIT",
	"LOG_SOFTMAX",
	"DELEGATE",
	"BIDIRECTIONAL_SEQUENCE_LSTM",
	"CAST",
	"PRELU",
	"MAXIMUM",
	"ARG_MAX",
	"MINIMUM",
	"LESS",
	"NEG",
	"PADV2",
	"GREATER",
	"GREATER_EQUAL",
	"LESS_EQUAL",
	"SELECT",
	"SLICE",
	"SIN",
	"TRANSPOSE_CONV",
	"SPARSE_TO_DENSE",
	"TILE",
	"EXPAND_DIMS",
	"EQUAL",
	"NOT_EQUAL",
	"LOG",
	"SUM",
	"SQRT",
	"RSQRT",
	"SHAPE",
	"POW",
	"ARG_MIN",
	"FAKE_QUANT",
	"REDUCE_PROD",
	"REDUCE_MAX",
	"PACK",
	"LOGICAL_OR",
	"ONE_HOT",
	"LOGICAL_AND",
	"LOGICAL_NOT",
	"UNPACK",
	"REDUCE_MIN",
	"FLOOR_DIV",
	"REDUCE_ANY",
	"SQUARE",
	"ZEROS_LIKE",
	"FILL",
	"FLOOR_MOD",
	"RANGE",
	"RESIZE_NEAREST_NEIGHBOR",
	"LEAKY_RELU",
	"SQUARED_DIFFERENCE",
	"MIRROR_PAD",
	"ABS",
	"SPLIT_V",
	"UNIQUE",
	"CEIL",
	"REVERSE_V2",
	"ADD_N",
	"GATHER_ND",
	"COS",
	"WHERE",
	"RANK",
	"ELU",
	"REVERSE_SEQUENCE",
	"MATRIX_DIAG",
	"QUANTIZE",
	"MATRIX_SET_DIAG",
	"ROUND",
	"HARD_SWISH",
	"IF",
	"WHILE",
	"NON_MAX_SUPPRESSION_V4",
	"NON_MAX_SUPPRESSION_V5",
	"SCATTER_ND",
	"SELECT_V2",
	"DENSIFY",
	"SEGMENT_SUM",
	"BATCH_MATMUL",
	"PLACEHOLDER_FOR_GREATER_OP_CODES",
	"CUMSUM",
	"CALL_ONCE",
	"BROADCAST_TO",
	"RFFT2D",
	"CONV_3D",
	"IMAG",
	"REAL",
	"COMPLEX_ABS",
	"HASHTABLE",
	"HASHTABLE_FIND",
	"HASHTABLE_IMPORT",
	"HASHTABLE_SIZE",
	"REDUCE_ALL",
	"CONV_3D_TRANSPOSE",
	"VAR_HANDLE",
	"READ_VARIABLE",
	"ASSIGN_VARIABLE",
	"BROADCAST_ARGS",
	"RANDOM_STANDARD_NORMAL",
	"BUCKETIZE",
	"RANDOM_UNIFORM",
	"MULTINOMIAL",
	"GELU",
	"DYNAMIC_UPDATE_SLICE",
	"RELU_0_TO_1",
	"UNSORTED_SEGMENT_PROD",
	"UNSORTED_SEGMENT_MAX",
	"UNSORTED_SEGMENT_SUM",
	"ATAN2",
	"UNSORTED_SEGMENT_MIN",
	"SIGN",
	"BITCAST",
	"BITWISE_XOR",
	"RIGHT_SHIFT",
}
