package dev.oialr4j.nn;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Variable;
import java.util.random.RandomGenerator;

/**
 * A pre-norm transformer encoder block on (batch, tokens, width):
 * x + dropPath(dropout(attn(norm1(x)))), then x + dropPath(dropout(fc2(dropout(GELU(fc1(norm2(x))))))).
 * Children: {@code norm1}, {@code attn} (with {@code attn.qkv}, {@code attn.proj}), {@code norm2},
 * {@code fc1}, {@code fc2}; the Linears are looked up by name on every call so OIALR can swap them.
 */
public final class TransformerBlock extends Module {

    private final int width;
    private final int hidden;

    /**
     * @param mlpRatio hidden width of the MLP over the model width
     * @param dropout  dropout after the attention projection, the MLP activation and fc2
     * @param dropPath stochastic-depth probability of both residual branches
     * @param seed     seed of the dropout and drop-path draws
     */
    public TransformerBlock(int width, int heads, double mlpRatio, float dropout, float dropPath, long seed,
            RandomGenerator rng) {
        if (!(mlpRatio > 0)) {
            throw new IllegalArgumentException("MLP ratio must be positive, got " + mlpRatio);
        }
        this.width = width;
        this.hidden = Math.max(1, (int) Math.round(width * mlpRatio));
        registerModule("norm1", new LayerNorm(width));
        registerModule("attn", new MultiheadAttention(width, heads, true, rng));
        registerModule("norm2", new LayerNorm(width));
        registerModule("fc1", new Linear(width, hidden, true, rng));
        registerModule("act", new GELU());
        registerModule("fc2", new Linear(hidden, width, true, rng));
        registerModule("drop", new Dropout(dropout, seed));
        registerModule("dropPath", new DropPath(dropPath, ~seed));
    }

    @Override
    public Variable forward(Ops ops, Variable x) {
        var c = children();
        Module drop = c.get("drop");
        Module dropPath = c.get("dropPath");
        Variable a = c.get("attn").forward(ops, c.get("norm1").forward(ops, x));
        Variable h = ops.add(x, dropPath.forward(ops, drop.forward(ops, a)));
        Variable m = c.get("fc1").forward(ops, c.get("norm2").forward(ops, h));
        m = drop.forward(ops, c.get("act").forward(ops, m));
        m = drop.forward(ops, c.get("fc2").forward(ops, m));
        return ops.add(h, dropPath.forward(ops, m));
    }

    public MultiheadAttention attention() {
        return (MultiheadAttention) children().get("attn");
    }

    @Override
    public String toString() {
        return "TransformerBlock(width " + width + ", MLP " + hidden + ", " + attention().heads() + " heads)";
    }
}
