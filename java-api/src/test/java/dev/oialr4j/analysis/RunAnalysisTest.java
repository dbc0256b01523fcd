package dev.oialr4j.analysis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.oialr4j.backend.CpuBackend;
import dev.oialr4j.data.DataLoader;
import dev.oialr4j.data.Dataset;
import dev.oialr4j.io.RunDirectory;
import dev.oialr4j.lowrank.LowRankLinear;
import dev.oialr4j.nn.models.Mlp;
import dev.oialr4j.oialr.Oialr;
import dev.oialr4j.oialr.OialrConfig;
import dev.oialr4j.optim.AdamW;
import dev.oialr4j.optim.ParamGroup;
import dev.oialr4j.train.Trainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The analysis of a tiny run with OIALR converting half-way, against a direct computation of the two
 * metrics with EJML's SVD and QR on the weights read back from the snapshot files.
 */
class RunAnalysisTest {

    private static CpuBackend be;
    private static Path run;
    private static Oialr oialr;
    private static Mlp model;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void train() {
        be = new CpuBackend(2);
        SplittableRandom rng = new SplittableRandom(4);
        int n = 120;
        float[] x = new float[n * 12];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int j = 0; j < 12; j++) {
                x[i * 12 + j] = (float) (rng.nextDouble() * 2 - 1);
                s += (j < 6 ? 1 : -1) * x[i * 12 + j];
            }
            y[i] = s > 0.3 ? 0 : s > -0.3 ? 1 : 2;
        }
        Dataset data = new Dataset("synthetic", x, y, 3, 12);
        model = Mlp.builder().inputs(12).hidden(16, 10).outputs(3).dropout(0f).seed(2).build();
        AdamW opt = new AdamW(be, ParamGroup.decayMatricesOnly(model.parameters(), 0.01), 1e-2);
        // 6 steps per epoch; conversion after step 9 (in epoch 2), rounds every 4 steps after it.
        oialr = new Oialr(OialrConfig.builder().delay(9).updateEvery(4).cutoffFraction(0.25).rolloutFraction(1)
                .build());
        run = tmp.resolve("run");
        try (RunDirectory dir = RunDirectory.create(run)) {
            Trainer.builder().model(model).backend(be).optimizer(opt)
                    .train(DataLoader.builder(data).batchSize(20).seed(1).build()).test(data.head(30)).epochs(4)
                    .runDirectory(dir).callback(oialr).snapshots(true).build().fit();
        }
    }

    @AfterAll
    static void stop() {
        be.close();
    }

    @Test
    void snapshotsHoldEveryParameterAndRebuildTheEffectiveWeight() {
        assertEquals(List.of(0, 1, 2, 3, 4), List.copyOf(RunAnalysis.snapshotFiles(run).keySet()));
        WeightSnapshot first = WeightSnapshot.read(0, Trainer.snapshotFile(run, 0));
        WeightSnapshot last = WeightSnapshot.read(4, Trainer.snapshotFile(run, 4));
        assertEquals(List.of("layers.0", "layers.2", "layers.4"), first.layers().stream().map(WeightSnapshot.Layer::name).toList());
        assertTrue(first.layers().stream().allMatch(l -> l instanceof WeightSnapshot.Dense));
        assertEquals(model.namedParameters().keySet(), last.contents().tensors().keySet());
        assertEquals("4", last.contents().metadata().get("epoch"));
        assertEquals("24", last.contents().metadata().get("step"));
        for (LowRankLinear l : oialr.lowRankLayers()) {
            String name = model.namedModules().entrySet().stream().filter(e -> e.getValue() == l).findFirst()
                    .orElseThrow().getKey();
            WeightSnapshot.Layer s = last.layers().stream().filter(x -> x.name().equals(name)).findFirst().orElseThrow();
            WeightSnapshot.Factored f = assertInstanceOf(WeightSnapshot.Factored.class, s);
            assertEquals(l.rank(), f.rank());
            float[] dense = be.toHost(l.toDense(be).weight().value());
            double[] rebuilt = f.effectiveWeight();
            for (int i = 0; i < dense.length; i++) {
                assertEquals(dense[i], rebuilt[i], 1e-6 * (1 + Math.abs(dense[i])), name + "[" + i + "]");
            }
        }
        assertTrue(oialr.ranks().values().stream().anyMatch(r -> r < 10), "a rank was cut: " + oialr.ranks());
    }

    @Test
    void metricsMatchADirectComputationWithEjml() {
        for (int lag : new int[] {1, 2}) {
            RunAnalysis.Result r = RunAnalysis.analyze(run, lag);
            List<Integer> expectedEpochs = new ArrayList<>();
            for (int e = lag; e <= 4; e++) {
                expectedEpochs.add(e);
            }
            assertEquals(expectedEpochs, r.epochs());
            assertEquals(List.of("layers.0", "layers.2", "layers.4"), r.layers());
            for (int j = 0; j < r.epochs().size(); j++) {
                int e = r.epochs().get(j);
                Map<String, double[]> prev = weights(e - lag);
                Map<String, double[]> cur = weights(e);
                double sumSt = 0;
                double sumSi = 0;
                for (int i = 0; i < r.layers().size(); i++) {
                    String name = r.layers().get(i);
                    double[] a = prev.get(name);
                    double[] b = cur.get(name);
                    int m = (int) a[0];
                    int n = (int) a[1];
                    double[] wa = Arrays.copyOfRange(a, 4, a.length);
                    double[] wb = Arrays.copyOfRange(b, 4, b.length);
                    double st = cosineMean(polar(wa, m, n, (int) a[2]), polar(wb, m, n, (int) b[2]), m, n);
                    double[] ra = qrR(wa, m, n);
                    double[] rb = qrR(wb, m, n);
                    double si = 1 - frob(diff(ra, rb)) / (frob(ra) + frob(rb));
                    // A factored layer's basis is taken from its float32 U and V, which are orthonormal only to
                    // about 1e-7, while EJML's singular vectors of U Σ Vᵀ are orthonormal in double.
                    boolean factored = a[3] != 0 || b[3] != 0;
                    double tol = factored ? 1e-6 : 1e-9;
                    assertEquals(st, r.stability()[i][j], tol, name + " stability at epoch " + e + ", lag " + lag);
                    assertEquals(si, r.similarity()[i][j], tol, name + " similarity at epoch " + e + ", lag " + lag);
                    sumSt += st;
                    sumSi += si;
                }
                assertEquals(sumSt / 3, r.meanStability()[j], 1e-9);
                assertEquals(sumSi / 3, r.meanSimilarity()[j], 1e-9);
            }
        }
    }

    /**
     * Each layer of snapshot {@code epoch} as {m, n, rank, factored ? 1 : 0, W...}: the effective weight computed here from
     * the raw tensors, oriented so that m ≥ n; rank is min(m, n) for a dense layer.
     */
    private static Map<String, double[]> weights(int epoch) {
        var c = dev.oialr4j.io.SafeTensors.read(Trainer.snapshotFile(run, epoch));
        Map<String, double[]> out = new java.util.LinkedHashMap<>();
        for (String name : List.of("layers.0", "layers.2", "layers.4")) {
            double[] w;
            int out0;
            int in0;
            int rank;
            if (c.tensors().containsKey(name + ".weight")) {
                var t = c.tensor(name + ".weight");
                out0 = t.shape()[0];
                in0 = t.shape()[1];
                w = t.toDoubles();
                rank = Math.min(out0, in0);
            } else {
                DMatrixRMaj u = matrix(c.tensor(name + ".u"));
                DMatrixRMaj s = matrix(c.tensor(name + ".sigma"));
                DMatrixRMaj v = matrix(c.tensor(name + ".v"));
                DMatrixRMaj us = new DMatrixRMaj(u.numRows, s.numCols);
                CommonOps_DDRM.mult(u, s, us);
                DMatrixRMaj wm = new DMatrixRMaj(u.numRows, v.numRows);
                CommonOps_DDRM.multTransB(us, v, wm);
                out0 = wm.numRows;
                in0 = wm.numCols;
                w = wm.data;
                rank = s.numRows;
            }
            DMatrixRMaj a = new DMatrixRMaj(out0, in0, true, w);
            if (out0 < in0) {
                a = CommonOps_DDRM.transpose(a, null);
            }
            double[] rec = new double[4 + a.data.length];
            rec[0] = a.numRows;
            rec[1] = a.numCols;
            rec[2] = rank;
            rec[3] = c.tensors().containsKey(name + ".weight") ? 0 : 1;
            System.arraycopy(a.data, 0, rec, 4, a.data.length);
            out.put(name, rec);
        }
        return out;
    }

    private static DMatrixRMaj matrix(dev.oialr4j.io.SafeTensors.Entry e) {
        return new DMatrixRMaj(e.shape()[0], e.shape()[1], true, e.toDoubles());
    }

    /** Σ over the {@code rank} largest singular triplets of u_t v_tᵀ (the polar factor when rank = n). */
    private static double[] polar(double[] a, int m, int n, int rank) {
        var svd = DecompositionFactory_DDRM.svd(m, n, true, true, true);
        if (!svd.decompose(new DMatrixRMaj(m, n, true, a.clone()))) {
            throw new AssertionError("EJML SVD failed");
        }
        double[] s = svd.getSingularValues();
        DMatrixRMaj u = svd.getU(null, false);
        DMatrixRMaj v = svd.getV(null, false);
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (x, y) -> Double.compare(s[y], s[x]));
        double[] b = new double[m * n];
        for (int t = 0; t < rank; t++) {
            int k = order[t];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    b[i * n + j] += u.get(i, k) * v.get(j, k);
                }
            }
        }
        return b;
    }

    /** R of the thin QR with a non-negative diagonal. */
    private static double[] qrR(double[] a, int m, int n) {
        var qr = DecompositionFactory_DDRM.qr(m, n);
        if (!qr.decompose(new DMatrixRMaj(m, n, true, a.clone()))) {
            throw new AssertionError("EJML QR failed");
        }
        DMatrixRMaj r = qr.getR(null, true);
        for (int i = 0; i < n; i++) {
            if (r.get(i, i) < 0) {
                for (int j = 0; j < n; j++) {
                    r.set(i, j, -r.get(i, j));
                }
            }
        }
        return r.data;
    }

    /** Mean over the n columns of two m×n row-major matrices of the cosine between matching columns. */
    private static double cosineMean(double[] a, double[] b, int m, int n) {
        double total = 0;
        for (int j = 0; j < n; j++) {
            double dot = 0;
            double na = 0;
            double nb = 0;
            for (int i = 0; i < m; i++) {
                dot += a[i * n + j] * b[i * n + j];
                na += a[i * n + j] * a[i * n + j];
                nb += b[i * n + j] * b[i * n + j];
            }
            total += dot / Math.sqrt(na * nb);
        }
        return total / n;
    }

    private static double[] diff(double[] a, double[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i] - b[i];
        }
        return d;
    }

    private static double frob(double[] a) {
        double s = 0;
        for (double x : a) {
            s += x * x;
        }
        return Math.sqrt(s);
    }

    @Test
    void missingRunsAndTooFewSnapshotsGiveOneSentence() throws Exception {
        String m1 = assertThrows(AnalysisException.class, () -> RunAnalysis.analyze(tmp.resolve("nope"), 1)).getMessage();
        assertTrue(m1.endsWith("does not exist"), m1);
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        String m2 = assertThrows(AnalysisException.class, () -> RunAnalysis.analyze(empty, 1)).getMessage();
        assertTrue(m2.contains("has no weight snapshots"), m2);
        String m3 = assertThrows(AnalysisException.class, () -> RunAnalysis.analyze(run, 5)).getMessage();
        assertTrue(m3.contains("has 5 snapshots") && m3.contains("needs at least 6"), m3);
        for (String m : List.of(m1, m2, m3)) {
            assertEquals(-1, m.indexOf('\n'));
        }
    }
}
