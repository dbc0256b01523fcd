package dev.oialr4j.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Optional;

/**
 * The fatbin built from {@code src/main/cuda} and the names of the kernels it exports. A build without
 * nvcc has no fatbin; callers then report the kernels as missing instead of failing.
 */
public final class KernelImage {

    /** Class-path location of the fatbin. */
    public static final String RESOURCE = "dev/oialr4j/kernels/oialr4j.fatbin";

    /** The first four bytes of a fatbin file as nvcc writes it: 0xBA55ED50, little-endian. */
    public static final int FATBIN_MAGIC = 0xBA55ED50;

    /** Entry points of the fatbin (src/main/cuda/*.cu), by the names {@code cuModuleGetFunction} looks up. */
    public static final List<String> KERNEL_NAMES = List.of(
            // elementwise.cu
            "axpby", "add", "mul", "scale", "add_row_vector", "relu", "relu_backward", "bias_relu_forward",
            "bias_relu_backward", "gelu", "gelu_backward", "bias_gelu_forward", "dropout", "transpose", "set_diagonal",
            // reductions.cu
            "bias_grad", "sum_cols", "block_sums", "sum_partials", "argmax_rows", "count_correct",
            "column_partials", "column_finish",
            // softmax.cu
            "softmax_rows", "cross_entropy_forward", "mean_row_loss", "cross_entropy_backward", "softmax_backward",
            "attention_softmax", "attention_softmax_backward",
            // norm.cu
            "layernorm_forward", "layernorm_backward", "layernorm_param_grads", "batchnorm_forward",
            "batchnorm_backward",
            // optim.cu
            "adamw_step", "sgd_step",
            // conv.cu
            "im2col", "col2im",
            // spatial.cu
            "im2col_nchw", "col2im_nchw", "add_channel_bias", "pool2d_forward", "pool2d_backward", "global_avg_pool",
            "global_avg_pool_backward", "batchnorm2d_partials", "batchnorm2d_apply",
            "batchnorm2d_backward_partials", "batchnorm2d_backward_apply",
            // transformer.cu
            "masked_softmax_rows", "softmax_backward_inplace", "strided_copy", "add_narrowed", "drop_path_mask",
            "scale_samples");

    private KernelImage() {
    }

    /** The fatbin's bytes, or empty when this build has none (it was built without nvcc). */
    public static Optional<byte[]> fatbin() {
        try (InputStream in = KernelImage.class.getClassLoader().getResourceAsStream(RESOURCE)) {
            if (in == null) {
                return Optional.empty();
            }
            return Optional.of(in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException("could not read the kernel resource " + RESOURCE, e);
        }
    }

    /** Whether {@code image} starts with the fatbin magic number. */
    public static boolean hasFatbinMagic(byte[] image) {
        if (image.length < 4) {
            return false;
        }
        int magic = (image[0] & 0xFF) | (image[1] & 0xFF) << 8 | (image[2] & 0xFF) << 16 | (image[3] & 0xFF) << 24;
        return magic == FATBIN_MAGIC;
    }
}
