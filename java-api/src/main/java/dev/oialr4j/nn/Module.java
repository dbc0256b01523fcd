package dev.oialr4j.nn;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.Backend;
import dev.oialr4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A layer or a model: named parameters and named submodules, in registration order. Qualified names are
 * dot-separated paths ({@code layers.0.weight}), which is what OIALR's include/exclude rules and
 * checkpoints use.
 */
public abstract class Module {

    private final Map<String, Parameter> parameters = new LinkedHashMap<>();
    private final Map<String, Module> children = new LinkedHashMap<>();
    private boolean training = true;

    /** Runs the module on {@code x}, recording onto the tape behind {@code ops}. */
    public abstract Variable forward(Ops ops, Variable x);

    protected final Parameter registerParameter(String name, Tensor value) {
        checkName(name);
        if (parameters.containsKey(name) || children.containsKey(name)) {
            throw new IllegalArgumentException("duplicate name '" + name + "' in " + getClass().getSimpleName());
        }
        Parameter p = new Parameter(name, value);
        parameters.put(name, p);
        return p;
    }

    /** Registers an existing parameter object (keeps its identity, e.g. a bias moved into a new layer). */
    protected final Parameter registerParameter(String name, Parameter p) {
        checkName(name);
        if (parameters.containsKey(name) || children.containsKey(name)) {
            throw new IllegalArgumentException("duplicate name '" + name + "' in " + getClass().getSimpleName());
        }
        parameters.put(name, p);
        return p;
    }

    protected final <M extends Module> M registerModule(String name, M module) {
        checkName(name);
        if (parameters.containsKey(name) || children.containsKey(name)) {
            throw new IllegalArgumentException("duplicate name '" + name + "' in " + getClass().getSimpleName());
        }
        children.put(name, module);
        return module;
    }

    /** Replaces the direct child {@code name} (used when a layer is converted to another form). */
    public void replaceChild(String name, Module replacement) {
        if (!children.containsKey(name)) {
            throw new IllegalArgumentException(getClass().getSimpleName() + " has no child named '" + name
                    + "'; children are " + children.keySet());
        }
        children.put(name, replacement);
    }

    private static void checkName(String name) {
        if (name.isEmpty() || name.contains(".")) {
            throw new IllegalArgumentException("module and parameter names must be non-empty without dots: '"
                    + name + "'");
        }
    }

    /** Direct children in registration order. */
    public Map<String, Module> children() {
        return Collections.unmodifiableMap(children);
    }

    /** Parameters of this module only (not of children). */
    public Map<String, Parameter> ownParameters() {
        return Collections.unmodifiableMap(parameters);
    }

    /** All parameters, depth first, keyed by qualified name. */
    public Map<String, Parameter> namedParameters() {
        Map<String, Parameter> out = new LinkedHashMap<>();
        collectParameters("", out);
        return out;
    }

    private void collectParameters(String prefix, Map<String, Parameter> out) {
        parameters.forEach((n, p) -> out.put(prefix + n, p));
        children.forEach((n, c) -> c.collectParameters(prefix + n + ".", out));
    }

    public List<Parameter> parameters() {
        return new ArrayList<>(namedParameters().values());
    }

    /** This module and all descendants, keyed by qualified name ("" for this one). */
    public Map<String, Module> namedModules() {
        Map<String, Module> out = new LinkedHashMap<>();
        collectModules("", out);
        return out;
    }

    private void collectModules(String name, Map<String, Module> out) {
        out.put(name, this);
        children.forEach((n, c) -> c.collectModules(name.isEmpty() ? n : name + "." + n, out));
    }

    /** Number of elements over all parameters. */
    public long parameterCount() {
        long n = 0;
        for (Parameter p : parameters()) {
            n += p.value().size();
        }
        return n;
    }

    public boolean isTraining() {
        return training;
    }

    /** Switches this module and all descendants between training and evaluation behaviour. */
    public void train(boolean on) {
        training = on;
        children.values().forEach(c -> c.train(on));
    }

    /** Moves every parameter's value onto {@code backend}'s device. */
    public void to(Backend backend) {
        for (Parameter p : parameters()) {
            Tensor v = p.value();
            if (!v.device().equals(backend.device())) {
                float[] host = v.isHost() ? v.data() : null;
                if (host == null) {
                    throw new IllegalStateException("parameter " + p.name() + " lives on " + v.device()
                            + "; move it to the host first");
                }
                p.setValue(backend.fromHost(host, v.dims()));
            }
        }
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(getClass().getSimpleName());
        if (!children.isEmpty()) {
            sb.append('(');
            children.forEach((n, c) -> sb.append("\n  ").append(n).append(": ")
                    .append(c.toString().replace("\n", "\n  ")));
            sb.append("\n)");
        }
        return sb.toString();
    }
}
