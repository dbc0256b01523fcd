// The one translation unit nvcc builds into oialr4j.fatbin (nvcc makes one fatbin per unit
// without device linking, so the kernel files are included here).
#include "elementwise.cu"
#include "reductions.cu"
#include "softmax.cu"
#include "norm.cu"
#include "optim.cu"
#include "conv.cu"
#include "spatial.cu"
#include "transformer.cu"
