package dev.oialr4j.cli;

import dev.oialr4j.data.Dataset;
import dev.oialr4j.nn.Module;
import dev.oialr4j.nn.models.Mlp;
import dev.oialr4j.nn.models.ResNet;
import java.util.List;

/** The models {@code --model} can name: one switch, so adding a model is one name and one case. */
final class Models {

    /** Accepted names, in the order the help text lists them. */
    static final List<String> NAMES = List.of("mlp", "resnet20");

    private Models() {
    }

    static void check(String name) {
        if (!NAMES.contains(name)) {
            throw new Main.UsageException("unknown model '" + name + "' (available: " + String.join(", ", NAMES) + ")");
        }
    }

    /** The model {@code o} describes for data shaped like {@code train}. */
    static Module build(RunOptions o, Dataset train) {
        int[] shape = train.featureShape();
        return switch (o.model) {
            case "mlp" -> Mlp.builder().inputs(train.features()).hidden(o.hidden).outputs(train.numClasses())
                    .dropout(o.dropout).seed(o.seed).build();
            case "resnet20" -> {
                if (shape.length != 3) {
                    throw new Main.UsageException("resnet20 needs images [C, H, W], but " + train.name()
                            + " has examples of shape " + java.util.Arrays.toString(shape));
                }
                yield ResNet.resnet20(shape[0], shape[1], shape[2], train.numClasses(), o.seed);
            }
            default -> throw new Main.UsageException("unknown model '" + o.model + "' (available: "
                    + String.join(", ", NAMES) + ")");
        };
    }
}
