package dev.oialr4j.nn.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.autograd.Tape;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.nn.Module;
import dev.oialr4j.tensor.Tensor;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Shapes, names and parameter counts of the vision transformer presets, and its training behaviour. */
class VisionTransformerTest {

    private static CpuBackend be;

    @BeforeAll
    static void start() {
        be = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        be.close();
    }

    /** Parameters of a ViT counted by hand: patch Linear, tokens, per block 2 LayerNorms + 4 Linears, norm, head. */
    static long expectedParameters(int c, int h, int w, int p, int depth, int dim, int hidden, boolean cls, int classes) {
        long tiles = (long) (h / p) * (w / p);
        long embed = (long) c * p * p * dim + dim;
        long tokens = (tiles + (cls ? 1 : 0)) * dim + (cls ? dim : 0);
        long block = 2L * 2 * dim + (3L * dim * dim + 3 * dim) + ((long) dim * dim + dim)
                + ((long) dim * hidden + hidden) + ((long) hidden * dim + dim);
        return embed + tokens + depth * block + 2L * dim + (long) dim * classes + classes;
    }

    @Test
    void miniPresetIsThePapersCifarModel() {
        VisionTransformer vit = (VisionTransformer) Models.byName("vit-mini", new int[] {3, 32, 32}, 10, 0);
        VisionTransformer.Config c = vit.config();
        assertEquals(8, c.patch());
        assertEquals(6, c.depth());
        assertEquals(6, c.heads());
        assertEquals(768, c.dim());
        assertEquals(4.0, c.mlpRatio());
        assertTrue(c.classToken());
        assertEquals(expectedParameters(3, 32, 32, 8, 6, 768, 3072, true, 10), vit.parameterCount());
        assertArrayEquals(new int[] {17, 768}, vit.namedParameters().get("positions").dims());
        // on 28×28 inputs vit-mini keeps its 4×4 patch grid
        VisionTransformer onFashion = (VisionTransformer) Models.byName("vit-mini", new int[] {1, 28, 28}, 10, 0);
        assertEquals(7, onFashion.config().patch());
    }

    @Test
    void smallPresetNamesAndShapes() {
        VisionTransformer vit = (VisionTransformer) Models.byName("vit-small", new int[] {1, 28, 28}, 10, 0);
        VisionTransformer.Config c = vit.config();
        int hidden = (int) Math.round(c.dim() * c.mlpRatio());
        assertEquals(expectedParameters(1, 28, 28, c.patch(), c.depth(), c.dim(), hidden, c.classToken(), 10),
                vit.parameterCount());
        Map<String, Parameter> p = vit.namedParameters();
        for (String name : new String[] {"positions", "patchEmbed.proj.weight", "blocks.0.norm1.weight",
                "blocks.0.attn.qkv.weight", "blocks.0.attn.proj.bias", "blocks.0.fc1.weight", "blocks.0.fc2.weight",
                "norm.bias", "head.weight"}) {
            assertTrue(p.containsKey(name), "has " + name + " among " + p.keySet());
        }
        float[] x = new float[3 * 784];
        SplittableRandom rng = new SplittableRandom(1);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rng.nextDouble(-1, 1);
        }
        Tape tape = new Tape(be);
        Variable y = vit.forward(new Ops(tape), Variable.constant(Tensor.of(x, 3, 784)));
        assertArrayEquals(new int[] {3, 10}, y.dims());
        assertThrows(IllegalArgumentException.class,
                () -> vit.forward(new Ops(new Tape(be)), Variable.constant(Tensor.zeros(2, 700))));
        assertThrows(IllegalArgumentException.class, () -> Models.byName("resnet-9000", new int[] {1, 28, 28}, 10, 0));
    }

    @Test
    void meanPoolingVariantAndEveryParameterGetsAGradient() {
        for (boolean cls : new boolean[] {true, false}) {
            VisionTransformer vit = VisionTransformer.small().image(2, 8, 8).patch(2).depth(2).heads(2).dim(8)
                    .mlpRatio(1.5).classToken(cls).dropout(0.1f).dropPath(0.2f).classes(3).seed(4).build();
            assertEquals(expectedParameters(2, 8, 8, 2, 2, 8, 12, cls, 3), vit.parameterCount());
            float[] x = new float[4 * 128];
            SplittableRandom rng = new SplittableRandom(5);
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) rng.nextDouble(-1, 1);
            }
            Tape tape = new Tape(be);
            Ops ops = new Ops(tape);
            Variable y = vit.forward(ops, Variable.constant(Tensor.of(x, 4, 2, 8, 8)));
            tape.backward(ops.crossEntropy(y, new int[] {0, 1, 2, 1}, 0f));
            for (Map.Entry<String, Parameter> e : vit.namedParameters().entrySet()) {
                assertTrue(e.getValue().hasGrad(), e.getKey() + " got a gradient");
            }
            // evaluation mode turns dropout and drop path off: two evaluation passes agree exactly
            vit.train(false);
            float[] a = vit.forward(new Ops(new Tape(be)), Variable.constant(Tensor.of(x, 4, 128))).value().data();
            float[] b = vit.forward(new Ops(new Tape(be)), Variable.constant(Tensor.of(x, 4, 128))).value().data();
            assertArrayEquals(a, b);
            vit.train(true);
            float[] t = vit.forward(new Ops(new Tape(be)), Variable.constant(Tensor.of(x, 4, 128))).value().data();
            assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(t), "training mode draws masks");
        }
    }

    @Test
    void fewStepsOfAdamWFitASmallBatch() {
        VisionTransformer vit = VisionTransformer.small().image(1, 8, 8).patch(4).depth(1).heads(2).dim(16)
                .mlpRatio(2).classes(4).seed(6).build();
        SplittableRandom rng = new SplittableRandom(7);
        int n = 16;
        float[] x = new float[n * 64];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i % 4;
            for (int j = 0; j < 64; j++) {
                // class-dependent mean in one quadrant, noise elsewhere
                x[i * 64 + j] = (float) (rng.nextDouble(-0.5, 0.5) + ((j / 32) * 2 + (j % 8) / 4 == labels[i] ? 1 : 0));
            }
        }
        var opt = new dev.oialr4j.optim.AdamW(be, dev.oialr4j.optim.ParamGroup.decayMatricesOnly(vit.parameters(), 0),
                3e-3);
        double first = 0;
        double last = 0;
        for (int step = 0; step < 60; step++) {
            vit.parameters().forEach(Parameter::zeroGrad);
            Tape tape = new Tape(be);
            Ops ops = new Ops(tape);
            Variable loss = ops.crossEntropy(vit.forward(ops, Variable.constant(Tensor.of(x, n, 64))), labels, 0f);
            tape.backward(loss);
            opt.step();
            double l = loss.value().data()[0];
            if (step == 0) {
                first = l;
            }
            last = l;
        }
        assertTrue(last < 0.2 * first, "loss fell from " + first + " to " + last);
    }

    @Test
    void modelsKnowsTheMlp() {
        Module m = Models.byName("mlp", new int[] {1, 28, 28}, 10, 0);
        assertTrue(m instanceof Mlp);
    }
}
