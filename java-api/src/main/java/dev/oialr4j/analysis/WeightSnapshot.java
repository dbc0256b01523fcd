package dev.oialr4j.analysis;

import dev.oialr4j.io.FormatException;
import dev.oialr4j.io.Json;
import dev.oialr4j.io.SafeTensors;
import dev.oialr4j.oialr.StabilityMetrics;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One epoch's weights as the trainer wrote them ({@code snapshots/epoch-NNN.safetensors}), read as layers:
 * a dense layer is a {@code NAME.weight} tensor of rank ≥ 2 (viewed as leading dimension × the rest); a
 * factored layer has {@code NAME.u} (m×r), {@code NAME.sigma} (r×r) and {@code NAME.v} (n×r) with
 * W = U Σ Vᵀ. The file's {@code layers} metadata lists them in model order (input first); without it the
 * layers are inferred from the tensor names in file order.
 */
public record WeightSnapshot(int epoch, Path file, SafeTensors.Contents contents) {

    /** A layer's weight in one of its two stored forms. */
    public sealed interface Layer permits Dense, Factored {
        String name();

        /** Rows and columns of the 2-D view of the effective weight. */
        int rows();

        int cols();

        /** B and R of the effective weight, as {@link StabilityMetrics} defines them. */
        StabilityMetrics.Snapshot metrics();

        /** The effective weight (rows × cols, row-major) in double. */
        double[] effectiveWeight();
    }

    public record Dense(String name, int rows, int cols, double[] weight) implements Layer {
        @Override
        public StabilityMetrics.Snapshot metrics() {
            return StabilityMetrics.ofDense(weight, rows, cols);
        }

        @Override
        public double[] effectiveWeight() {
            return weight;
        }
    }

    public record Factored(String name, int rows, int cols, int rank, double[] u, double[] sigma, double[] v)
            implements Layer {
        @Override
        public StabilityMetrics.Snapshot metrics() {
            return StabilityMetrics.ofFactors(u, sigma, v, rows, cols, rank);
        }

        /** U Σ Vᵀ, summed in double. */
        @Override
        public double[] effectiveWeight() {
            double[] us = new double[rows * rank];
            for (int i = 0; i < rows; i++) {
                for (int p = 0; p < rank; p++) {
                    double a = u[i * rank + p];
                    for (int j = 0; j < rank; j++) {
                        us[i * rank + j] += a * sigma[p * rank + j];
                    }
                }
            }
            double[] w = new double[rows * cols];
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < cols; j++) {
                    double s = 0;
                    for (int p = 0; p < rank; p++) {
                        s += us[i * rank + p] * v[j * rank + p];
                    }
                    w[i * cols + j] = s;
                }
            }
            return w;
        }
    }

    public static WeightSnapshot read(int epoch, Path file) {
        return new WeightSnapshot(epoch, file, SafeTensors.read(file));
    }

    /** The weight layers of this snapshot, input side first. */
    public List<Layer> layers() {
        Map<String, String> kinds = new LinkedHashMap<>();
        String listed = contents.metadata().get("layers");
        if (listed != null) {
            try {
                Json.parseObject(listed).forEach((name, kind) -> kinds.put(name, String.valueOf(kind)));
            } catch (IllegalArgumentException e) {
                throw new FormatException(file + " has a bad 'layers' metadata entry: " + e.getMessage(), e);
            }
        } else {
            for (String t : contents.tensors().keySet()) {
                if (t.endsWith(".weight") && contents.tensors().get(t).shape().length >= 2) {
                    kinds.put(t.substring(0, t.length() - ".weight".length()), "dense");
                } else if (t.endsWith(".sigma")) {
                    String base = t.substring(0, t.length() - ".sigma".length());
                    if (contents.tensors().containsKey(base + ".u") && contents.tensors().containsKey(base + ".v")) {
                        kinds.put(base, "factored");
                    }
                }
            }
        }
        List<Layer> out = new ArrayList<>();
        kinds.forEach((name, kind) -> out.add(switch (kind) {
            case "dense" -> dense(name);
            case "factored" -> factored(name);
            default -> throw new FormatException(file + ": layer '" + name + "' has unknown kind '" + kind + "'");
        }));
        return out;
    }

    private String prefix(String name) {
        return name.isEmpty() ? "" : name + ".";
    }

    private Dense dense(String name) {
        SafeTensors.Entry w = contents.tensor(prefix(name) + "weight");
        int[] s = w.shape();
        if (s.length < 2) {
            throw new FormatException(file + ": weight of layer '" + name + "' is not a matrix or kernel");
        }
        int rows = s[0];
        int cols = (int) (w.elements() / Math.max(1, rows));
        return new Dense(name, rows, cols, w.toDoubles());
    }

    private Factored factored(String name) {
        SafeTensors.Entry u = contents.tensor(prefix(name) + "u");
        SafeTensors.Entry s = contents.tensor(prefix(name) + "sigma");
        SafeTensors.Entry v = contents.tensor(prefix(name) + "v");
        int r = s.shape().length == 2 ? s.shape()[0] : -1;
        if (r < 1 || s.shape()[1] != r || u.shape().length != 2 || v.shape().length != 2 || u.shape()[1] != r
                || v.shape()[1] != r) {
            throw new FormatException(file + ": factors of layer '" + name + "' do not fit U m×r, Σ r×r, V n×r (got "
                    + java.util.Arrays.toString(u.shape()) + ", " + java.util.Arrays.toString(s.shape()) + ", "
                    + java.util.Arrays.toString(v.shape()) + ")");
        }
        return new Factored(name, u.shape()[0], v.shape()[0], r, u.toDoubles(), s.toDoubles(), v.toDoubles());
    }
}
