package dev.oialr4j.train;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Tape;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.Backend;
import dev.oialr4j.data.Batch;
import dev.oialr4j.data.DataLoader;
import dev.oialr4j.data.Dataset;
import dev.oialr4j.nn.Module;

/** Loss and accuracy of a classifier on a data set, computed without recording gradients. */
public record Evaluation(double loss, double accuracy, int examples) {

    public static Evaluation of(Module model, Dataset data, Backend backend, int batchSize) {
        boolean wasTraining = model.isTraining();
        model.train(false);
        Tape tape = new Tape(backend);
        Ops ops = new Ops(tape);
        double lossSum = 0;
        long correct = 0;
        int n = 0;
        DataLoader loader = DataLoader.builder(data).batchSize(batchSize).shuffle(false).build();
        try (Tape.Scope scope = tape.noGrad()) {
            for (Batch b : loader.epoch(0)) {
                Variable x = Variable.constant(toDevice(backend, b));
                Variable logits = model.forward(ops, x);
                Variable loss = ops.crossEntropy(logits, b.labels(), 0f);
                lossSum += backend.toHost(loss.value())[0] * (double) b.size();
                int[] pred = backend.argmaxRows(logits.value());
                for (int i = 0; i < pred.length; i++) {
                    if (pred[i] == b.labels()[i]) {
                        correct++;
                    }
                }
                n += b.size();
            }
        } finally {
            model.train(wasTraining);
        }
        return new Evaluation(n == 0 ? Double.NaN : lossSum / n, n == 0 ? Double.NaN : (double) correct / n, n);
    }

    static dev.oialr4j.tensor.Tensor toDevice(Backend backend, Batch b) {
        return b.x().device().equals(backend.device()) ? b.x() : backend.fromHost(b.x().data(), b.x().dims());
    }
}
