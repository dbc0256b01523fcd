package dev.oialr4j.train;

import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.backend.Backend;
import dev.oialr4j.io.Checkpoint;
import dev.oialr4j.io.FormatException;
import dev.oialr4j.io.SafeTensors;
import dev.oialr4j.nn.BatchNorm2d;
import dev.oialr4j.nn.Dropout;
import dev.oialr4j.nn.Module;
import dev.oialr4j.optim.AdamW;
import dev.oialr4j.optim.Optimizer;
import dev.oialr4j.optim.ParamState;
import dev.oialr4j.optim.Sgd;
import dev.oialr4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Everything a resumed run needs, gathered from a {@link Trainer} into a {@link Checkpoint} and put back:
 * <ul>
 *   <li>{@code trainer}: epochs done, global step (the learning-rate schedule is a function of it),
 *       the data loader's seed and batch layout (epoch e's order depends on (seed, e) only), and every
 *       dropout layer's call counter (its masks are keyed by it);
 *   <li>{@code model}: every named parameter, frozen ones included (OIALR's U and V);
 *   <li>{@code optimizer}: per parameter (by qualified name) AdamW's m, v and step, or SGD's momentum buffer;
 *   <li>one section per callback that names one (OIALR: conversion state, ranks, double bases, rounds).
 * </ul>
 * Checkpoints are taken at epoch ends, so a resumed run starts the next epoch from its first batch.
 */
final class TrainingState {

    private TrainingState() {
    }

    /** A host copy of a tensor that may live on the host or on the backend's device. */
    private static float[] hostCopy(Backend backend, Tensor x) {
        return (x.isHost() ? x.data() : backend.toHost(x)).clone();
    }

    static Checkpoint capture(Trainer t, int epochsDone) {
        Checkpoint ck = Checkpoint.empty();
        Backend backend = t.backend();
        Checkpoint.Section tr = ck.section("trainer");
        tr.put("epochs_done", epochsDone);
        tr.put("global_step", t.globalStep());
        tr.put("epochs", t.epochs());
        tr.put("batches_per_epoch", t.stepsPerEpoch());
        tr.put("batch_size", t.trainLoader().batchSize());
        tr.put("loader_seed", t.trainLoader().seed());
        tr.put("loader_shuffles", t.trainLoader().shuffles());
        Map<String, Object> dropout = new LinkedHashMap<>();
        t.model().namedModules().forEach((name, m) -> {
            if (m instanceof Dropout d) {
                dropout.put(name, d.calls());
            }
        });
        tr.put("dropout_calls", dropout);
        // Batch-norm running statistics are buffers, not parameters, but evaluation depends on them.
        t.model().namedModules().forEach((name, m) -> {
            if (m instanceof BatchNorm2d bn) {
                tr.putTensor("batch_norm/" + name + "/running_mean", new SafeTensors.F32(new int[] {bn.channels()},
                        hostCopy(backend, bn.runningMean())));
                tr.putTensor("batch_norm/" + name + "/running_var", new SafeTensors.F32(new int[] {bn.channels()},
                        hostCopy(backend, bn.runningVar())));
            }
        });

        Map<String, Parameter> params = t.model().namedParameters();
        Checkpoint.Section model = ck.section("model");
        List<String> frozen = new ArrayList<>();
        params.forEach((name, p) -> {
            model.putTensor(name, new SafeTensors.F32(p.dims(), backend.toHost(p.value()).clone()));
            if (!p.requiresGrad()) {
                frozen.add(name);
            }
        });
        model.put("parameters", new ArrayList<>(params.keySet()));
        model.put("frozen", frozen);

        Map<Parameter, String> names = namesByIdentity(params);
        Checkpoint.Section opt = ck.section("optimizer");
        opt.put("type", t.optimizer().getClass().getSimpleName());
        Map<String, Object> states = new LinkedHashMap<>();
        for (Parameter p : t.optimizer().parameters()) {
            ParamState s = t.optimizer().state(p);
            if (s == null) {
                continue;
            }
            String name = names.get(p);
            if (name == null) {
                throw new IllegalStateException("the optimizer holds a parameter (" + p.name()
                        + ") that is not part of the model; it cannot be checkpointed by name");
            }
            Map<String, Object> info = new LinkedHashMap<>();
            switch (s) {
                case ParamState.Adam a -> {
                    info.put("kind", "adam");
                    info.put("step", a.step);
                    opt.putTensor(name + "/m", f32(backend, a.m));
                    opt.putTensor(name + "/v", f32(backend, a.v));
                }
                case ParamState.Momentum m -> {
                    info.put("kind", "momentum");
                    info.put("buffer", m.buf != null);
                    if (m.buf != null) {
                        opt.putTensor(name + "/buf", f32(backend, m.buf));
                    }
                }
            }
            states.put(name, info);
        }
        opt.put("state", states);

        for (TrainerCallback cb : t.callbacks()) {
            String section = cb.checkpointSection();
            if (section != null) {
                cb.saveState(t, ck.section(section));
            }
        }
        return ck;
    }

    private static SafeTensors.F32 f32(Backend backend, Tensor x) {
        return new SafeTensors.F32(x.dims(), backend.toHost(x).clone());
    }

    private static Map<Parameter, String> namesByIdentity(Map<String, Parameter> params) {
        Map<Parameter, String> names = new IdentityHashMap<>();
        params.forEach((n, p) -> names.put(p, n));
        return names;
    }

    /** Puts the checkpoint's state into a freshly built trainer; returns the number of epochs done. */
    static int restore(Trainer t, Checkpoint ck) {
        Backend backend = t.backend();
        Checkpoint.Section tr = ck.section("trainer");
        check(tr.getLong("batches_per_epoch") == t.stepsPerEpoch() && tr.getLong("batch_size") == t.trainLoader().batchSize(),
                "the checkpoint was taken with " + tr.getLong("batches_per_epoch") + " batches of "
                        + tr.getLong("batch_size") + " per epoch but this run has " + t.stepsPerEpoch() + " of "
                        + t.trainLoader().batchSize());
        check(tr.getLong("loader_seed") == t.trainLoader().seed() && tr.getBoolean("loader_shuffles") == t.trainLoader().shuffles(),
                "the checkpoint's data order (seed " + tr.getLong("loader_seed") + ") differs from this run's (seed "
                        + t.trainLoader().seed() + ")");
        int epochsDone = (int) tr.getLong("epochs_done");
        check(epochsDone <= t.epochs(), "the checkpoint has " + epochsDone + " epochs done but this run trains only "
                + t.epochs());

        // Callbacks first: they may rebuild the model's structure (OIALR's low-rank layers).
        Set<String> sections = new java.util.HashSet<>();
        for (TrainerCallback cb : t.callbacks()) {
            String section = cb.checkpointSection();
            if (section != null) {
                check(sections.add(section), "two callbacks use the checkpoint section '" + section + "'");
                check(ck.hasSection(section), "the checkpoint has no '" + section + "' state, so it was not"
                        + " taken with the same callbacks");
                cb.restoreState(t, ck.section(section));
            }
        }

        for (String name : ck.sectionNames()) {
            check(Set.of("trainer", "model", "optimizer").contains(name) || sections.contains(name),
                    "the checkpoint has '" + name + "' state that no callback of this run takes (was the run"
                            + " trained with other callbacks, e.g. with or without OIALR?)");
        }

        Map<String, Parameter> params = t.model().namedParameters();
        Checkpoint.Section model = ck.section("model");
        List<?> saved = (List<?>) model.get("parameters");
        check(saved.equals(new ArrayList<>(params.keySet())), "the checkpoint's parameters " + summarise(saved)
                + " do not match this model's " + summarise(new ArrayList<>(params.keySet())));
        for (var e : params.entrySet()) {
            Parameter p = e.getValue();
            int[] savedDims = model.hasTensor(e.getKey()) ? ck.tensors().get("model/" + e.getKey()).shape() : null;
            check(java.util.Arrays.equals(savedDims, p.dims()), "parameter '" + e.getKey() + "' has shape "
                    + java.util.Arrays.toString(savedDims) + " in the checkpoint but "
                    + java.util.Arrays.toString(p.dims()) + " in this model");
            p.setValue(backend.fromHost(model.tensor(e.getKey(), p.dims()).toFloats(), p.dims()));
        }

        Map<Parameter, String> names = namesByIdentity(params);
        Checkpoint.Section opt = ck.section("optimizer");
        Optimizer optimizer = t.optimizer();
        check(optimizer.getClass().getSimpleName().equals(opt.get("type")), "the checkpoint holds "
                + opt.get("type") + " state but this run uses " + optimizer.getClass().getSimpleName());
        @SuppressWarnings("unchecked")
        Map<String, Object> states = (Map<String, Object>) opt.get("state");
        Set<String> used = new java.util.HashSet<>();
        for (Parameter p : optimizer.parameters()) {
            String name = names.get(p);
            Object info = name == null ? null : states.get(name);
            if (!(info instanceof Map<?, ?> m)) {
                optimizer.setState(p, null);
                continue;
            }
            used.add(name);
            int[] dims = p.dims();
            ParamState s;
            if ("adam".equals(m.get("kind")) && optimizer instanceof AdamW) {
                s = new ParamState.Adam(tensor(backend, opt, name + "/m", dims), tensor(backend, opt, name + "/v", dims),
                        ((Number) m.get("step")).longValue());
            } else if ("momentum".equals(m.get("kind")) && optimizer instanceof Sgd) {
                s = new ParamState.Momentum(Boolean.TRUE.equals(m.get("buffer"))
                        ? tensor(backend, opt, name + "/buf", dims) : null);
            } else {
                throw new FormatException("checkpoint optimizer state of '" + name + "' is of kind " + m.get("kind")
                        + ", which " + optimizer.getClass().getSimpleName() + " does not use");
            }
            optimizer.setState(p, s);
        }
        for (String name : states.keySet()) {
            check(used.contains(name), "the checkpoint has optimizer state for '" + name
                    + "', which this run's optimizer does not train");
        }

        @SuppressWarnings("unchecked")
        Map<String, Object> dropout = (Map<String, Object>) tr.get("dropout_calls");
        t.model().namedModules().forEach((name, m) -> {
            if (m instanceof Dropout d) {
                check(dropout.get(name) instanceof Number, "the checkpoint has no dropout counter for '" + name + "'");
                d.setCalls(((Number) dropout.get(name)).longValue());
            }
        });
        t.model().namedModules().forEach((name, m) -> {
            if (m instanceof BatchNorm2d bn) {
                String key = "batch_norm/" + name + "/running_";
                check(tr.hasTensor(key + "mean") && tr.hasTensor(key + "var"),
                        "the checkpoint has no running statistics for the batch norm '" + name + "'");
                int c = bn.channels();
                bn.setRunningStats(backend.fromHost(tr.tensor(key + "mean", c).toFloats(), c),
                        backend.fromHost(tr.tensor(key + "var", c).toFloats(), c));
            }
        });
        t.resumeAt(epochsDone, tr.getLong("global_step"));
        return epochsDone;
    }

    private static Tensor tensor(Backend backend, Checkpoint.Section s, String key, int[] dims) {
        return backend.fromHost(s.tensor(key, dims).toFloats(), dims);
    }

    private static String summarise(List<?> names) {
        return names.size() <= 8 ? names.toString() : "(" + names.size() + " names, from " + names.get(0) + ")";
    }

    private static void check(boolean ok, String sentence) {
        if (!ok) {
            throw new FormatException("cannot resume: " + sentence);
        }
    }

    /** Writes one weight snapshot: every named parameter as F32, plus which layers are factored. */
    static void writeSnapshot(Module model, Backend backend, java.nio.file.Path file, int epoch, long step) {
        Map<String, SafeTensors.Entry> tensors = new LinkedHashMap<>();
        model.namedParameters().forEach((name, p) ->
                tensors.put(name, new SafeTensors.F32(p.dims(), backend.toHost(p.value()).clone())));
        Map<String, Object> layers = new LinkedHashMap<>();
        model.namedModules().forEach((name, m) -> {
            Map<String, Parameter> own = m.ownParameters();
            if (own.containsKey("u") && own.containsKey("sigma") && own.containsKey("v")) {
                layers.put(name, "factored");
            } else if (own.containsKey("weight") && own.get("weight").value().rank() >= 2) {
                layers.put(name, "dense");
            }
        });
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "oialr4j-snapshot/1");
        meta.put("epoch", Integer.toString(epoch));
        meta.put("step", Long.toString(step));
        // Layer name -> "dense" (prefix.weight) or "factored" (prefix.u, prefix.sigma, prefix.v: W = U Σ Vᵀ).
        meta.put("layers", dev.oialr4j.io.Json.write(layers));
        dev.oialr4j.io.SafeTensors.write(file, tensors, meta);
    }
}
