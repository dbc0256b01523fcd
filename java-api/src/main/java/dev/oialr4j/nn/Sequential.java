package dev.oialr4j.nn;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Variable;
import java.util.ArrayList;
import java.util.List;

/** Runs its children in order; children are named "0", "1", ... */
public final class Sequential extends Module {

    public Sequential(Module... layers) {
        this(List.of(layers));
    }

    public Sequential(List<? extends Module> layers) {
        for (int i = 0; i < layers.size(); i++) {
            registerModule(Integer.toString(i), layers.get(i));
        }
    }

    @Override
    public Variable forward(Ops ops, Variable x) {
        Variable h = x;
        for (Module m : children().values()) {
            h = m.forward(ops, h);
        }
        return h;
    }

    public int size() {
        return children().size();
    }

    public Module get(int i) {
        return children().get(Integer.toString(i));
    }

    public List<Module> layers() {
        return new ArrayList<>(children().values());
    }
}
