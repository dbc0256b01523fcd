package dev.oialr4j.nn.models;

import dev.oialr4j.nn.Module;
import java.util.List;

/** Builds the named models the command line offers, for a given input shape and number of classes. */
public final class Models {

    /** The names {@link #byName} knows. */
    public static final List<String> NAMES = List.of("mlp", "resnet20", "vit-small", "vit-mini");

    private Models() {
    }

    /**
     * A fresh model. {@code inputShape} is (channels, height, width) of one sample. {@code mlp} is the
     * default {@link Mlp} on the flattened input; {@code resnet20} is the CIFAR-style {@link ResNet} preset; {@code vit-small} and {@code vit-mini} are the
     * {@link VisionTransformer} presets sized to the input. vit-mini keeps its 4×4 grid of patches: patch 8
     * on 32×32 (the paper's CIFAR-10 model) and patch 7 on 28×28.
     *
     * @throws IllegalArgumentException for an unknown name or an input the model cannot take
     */
    public static Module byName(String name, int[] inputShape, int classes, long seed) {
        if (inputShape.length != 3) {
            throw new IllegalArgumentException("input shape must be (channels, height, width), got "
                    + java.util.Arrays.toString(inputShape));
        }
        int c = inputShape[0];
        int h = inputShape[1];
        int w = inputShape[2];
        return switch (name) {
            case "mlp" -> Mlp.builder().inputs(c * h * w).outputs(classes).seed(seed).build();
            case "resnet20" -> ResNet.resnet20(c, h, w, classes, seed);
            case "vit-small" -> VisionTransformer.small().image(c, h, w).classes(classes).seed(seed).build();
            case "vit-mini" -> {
                VisionTransformer.Builder b = VisionTransformer.mini().image(c, h, w).classes(classes).seed(seed);
                if (h % b.patch() != 0 || w % b.patch() != 0) {
                    if (h % 4 != 0 || w % 4 != 0) {
                        throw new IllegalArgumentException("vit-mini needs images that split into a 4×4 grid of patches,"
                                + " got " + h + "×" + w);
                    }
                    if (h != w) {
                        throw new IllegalArgumentException("vit-mini needs square images, got " + h + "×" + w);
                    }
                    b.patch(h / 4);
                }
                yield b.build();
            }
            default -> throw new IllegalArgumentException("unknown model '" + name + "' (available: "
                    + String.join(", ", NAMES) + ")");
        };
    }
}
