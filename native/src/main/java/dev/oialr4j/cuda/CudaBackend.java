package dev.oialr4j.cuda;

import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.oialr4j.backend.Backend;
import dev.oialr4j.tensor.Device;
import dev.oialr4j.tensor.Shape;
import dev.oialr4j.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The {@link Backend} SPI on one NVIDIA GPU: tensors live in device memory ({@link DeviceStorage}), GEMMs go
 * to cuBLAS, everything else to the kernels of oialr4j.fatbin ({@link CudaKernels}). All work is queued on
 * one stream of the device's primary context, in call order, so no op waits for the GPU except those that
 * return host values: {@link #toHost}, {@link #sum}, {@link #sumSquares}, {@link #argmaxRows} and
 * {@link #crossEntropy} (its loss). Host↔device copies happen only there and in {@link #fromHost} (and for
 * the integer labels of the loss ops, which arrive as a host array).
 *
 * <p>Numerics against {@code CpuBackend}: elementwise ops, the optimizer updates, the bias gradient
 * ({@link #sumRows}), dropout masks and the cross-entropy gradient round identically (bit for bit);
 * GELU uses the GPU's tanhf (within an ulp); sums, softmax and the loss accumulate in double in a
 * different order (within float rounding); GEMM is cuBLAS fp32 (or TF32 when {@link Options#tf32()}).
 *
 * <p>Calls are serialised on this object. The driver's current context is per thread, so each entry point
 * makes the backend's context current on the calling thread first (a thread-local check, no driver call
 * when it already is).
 */
public final class CudaBackend implements Backend {

    /** {@code CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT}. */
    private static final int ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
    /** System property switching TF32 tensor-core GEMMs on for backends made by the provider. */
    public static final String TF32_PROPERTY = "oialr4j.cuda.tf32";

    /** The backend whose context the calling thread last made current. */
    private static final ThreadLocal<CudaBackend> CURRENT = new ThreadLocal<>();

    /** Backend options: {@code tf32} runs GEMMs on tensor cores with TF32 inputs (about 1e-3 relative error). */
    public record Options(boolean tf32) {
        public static Options defaults() {
            return new Options(Boolean.getBoolean(TF32_PROPERTY));
        }
    }

    private final Device device;
    private final int cuDevice;
    private final Options options;
    private final MemorySegment context;
    private final MemorySegment stream;
    private final Cublas cublas;
    private final CudaKernels kernels;
    private final CachingAllocator allocator;
    private final String deviceName;
    private boolean closed;

    /** Opens the backend on {@code device} (type CUDA); the provider checks availability first. */
    public CudaBackend(Device device, Options options, byte[] fatbin) {
        if (device.type() != Device.Type.CUDA) {
            throw new IllegalArgumentException("CudaBackend needs a cuda device, got " + device);
        }
        this.device = device;
        this.options = options;
        CudaDriver.init();
        int count = CudaDriver.deviceCount();
        if (device.index() >= count) {
            // A user's choice (--device cuda:N): one sentence, like every other unavailable device.
            throw new dev.oialr4j.backend.Backends.UnavailableException("device " + device
                    + " does not exist: the CUDA driver sees " + count + " GPU(s)");
        }
        this.cuDevice = CudaDriver.device(device.index());
        this.deviceName = CudaDriver.deviceName(cuDevice);
        this.context = CudaDriver.primaryContextRetain(cuDevice);
        MemorySegment createdStream = null;
        Cublas createdBlas = null;
        try {
            CudaDriver.setCurrentContext(context);
            CURRENT.set(this);
            createdStream = CudaDriver.streamCreate(CudaDriver.STREAM_NON_BLOCKING);
            createdBlas = Cublas.create();
            createdBlas.setStream(createdStream);
            int sms = CudaDriver.deviceAttribute(cuDevice, ATTRIBUTE_MULTIPROCESSOR_COUNT);
            this.kernels = CudaKernels.load(fatbin, createdStream, sms);
        } catch (RuntimeException e) {
            // Undo what was set up, so a failed construction leaks neither the context nor the stream.
            if (createdBlas != null) {
                createdBlas.close();
            }
            if (createdStream != null) {
                CudaDriver.streamDestroy(createdStream);
            }
            CudaDriver.primaryContextRelease(cuDevice);
            CURRENT.remove();
            throw e;
        }
        this.stream = createdStream;
        this.cublas = createdBlas;
        MemorySegment s = createdStream;
        this.allocator = new CachingAllocator(CudaDriver::memAlloc, CudaDriver::memFree,
                () -> CudaDriver.streamSynchronize(s), System::gc,
                Math.max(256L << 20, CudaDriver.deviceTotalMemory(cuDevice) / 4));
    }

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public Device device() {
        return device;
    }

    /** The GPU's product name, e.g. {@code NVIDIA H100 80GB HBM3}. */
    public String deviceName() {
        return deviceName;
    }

    public Options options() {
        return options;
    }

    /** The kernel launchers, for fused ops outside the SPI (bias + activation, norms, attention, im2col). */
    public CudaKernels kernels() {
        return kernels;
    }

    /** The cuBLAS handle bound to this backend's stream. */
    public Cublas cublas() {
        return cublas;
    }

    /** The stream all work of this backend goes to. */
    public MemorySegment stream() {
        return stream;
    }

    /** Waits for all queued work; a failed kernel reports here. */
    public synchronized void synchronize() {
        ensureCurrent();
        CudaDriver.streamSynchronize(stream);
    }

    /** Bytes held by live tensors and bytes cached for reuse. */
    public long[] memoryStats() {
        return new long[] {allocator.liveBytes(), allocator.cachedBytes()};
    }

    /** The device address of a tensor of this backend; throws for a host tensor or another device's. */
    public long address(Tensor t) {
        if (t.storage() instanceof DeviceStorage d && d.owner() == this) {
            if (closed) {
                throw new IllegalStateException("the CUDA backend on " + device + " is closed");
            }
            return d.address();
        }
        throw new IllegalArgumentException("tensor " + t.shape() + " lives on " + t.device()
                + ", not in this CUDA backend's memory on " + device);
    }

    /** A tensor of uninitialised device memory (for outputs that a kernel overwrites fully). */
    public synchronized Tensor empty(int... dims) {
        ensureCurrent();
        Shape s = Shape.of(dims);
        return new Tensor(new DeviceStorage(this, allocator, s.size()), s);
    }

    /** Device scratch of {@code bytes}, returned to the cache by {@link #releaseScratch}. */
    long scratch(long bytes) {
        return allocator.allocate(bytes);
    }

    void releaseScratch(long ptr, long bytes) {
        allocator.release(ptr, CachingAllocator.sizeClass(bytes));
    }

    private void ensureCurrent() {
        if (closed) {
            throw new IllegalStateException("the CUDA backend on " + device + " is closed");
        }
        if (CURRENT.get() != this) {
            CudaDriver.setCurrentContext(context);
            CURRENT.set(this);
        }
    }

    // ---- memory -------------------------------------------------------------------------------

    @Override
    public synchronized Tensor zeros(int... dims) {
        Tensor t = empty(dims);
        if (t.size() > 0) {
            CudaDriver.memsetD32(address(t), 0, t.size(), stream);
        }
        return t;
    }

    @Override
    public synchronized Tensor fromHost(float[] data, int... dims) {
        Shape s = Shape.of(dims);
        if (s.size() != data.length) {
            throw new IllegalArgumentException("host array of " + data.length + " elements does not fit shape " + s);
        }
        Tensor t = empty(dims);
        if (data.length > 0) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment host = arena.allocate(JAVA_FLOAT, data.length);
                MemorySegment.copy(data, 0, host, JAVA_FLOAT, 0, data.length);
                // From pageable memory the driver stages the data before returning, so the arena may close.
                CudaDriver.copyHostToDevice(address(t), host, 4L * data.length, stream);
            }
        }
        return t;
    }

    @Override
    public synchronized float[] toHost(Tensor t) {
        ensureCurrent();
        float[] out = new float[t.size()];
        if (out.length > 0) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment host = arena.allocate(JAVA_FLOAT, out.length);
                CudaDriver.copyDeviceToHost(host, address(t), 4L * out.length, stream);
                CudaDriver.streamSynchronize(stream);
                MemorySegment.copy(host, JAVA_FLOAT, 0, out, 0, out.length);
            }
        }
        return out;
    }

    @Override
    public synchronized void copy(Tensor src, Tensor dst) {
        sameSize("copy", src, dst);
        ensureCurrent();
        long s = address(src);
        long d = address(dst);
        if (s != d && src.size() > 0) {
            CudaDriver.copyDeviceToDevice(d, s, 4L * src.size(), stream);
        }
    }

    @Override
    public synchronized void fill(Tensor t, float value) {
        ensureCurrent();
        if (t.size() > 0) {
            CudaDriver.memsetD32(address(t), Float.floatToRawIntBits(value), t.size(), stream);
        }
    }

    // ---- BLAS-like ----------------------------------------------------------------------------

    @Override
    public synchronized void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        int m = transA ? a.cols() : a.rows();
        int ka = transA ? a.rows() : a.cols();
        int kb = transB ? b.cols() : b.rows();
        int n = transB ? b.rows() : b.cols();
        if (ka != kb || c.rows() != m || c.cols() != n) {
            throw new IllegalArgumentException("gemm shapes do not match: op(A) from " + a.shape()
                    + (transA ? "ᵀ" : "") + ", op(B) from " + b.shape() + (transB ? "ᵀ" : "") + ", C " + c.shape());
        }
        ensureCurrent();
        if (m == 0 || n == 0) {
            return;
        }
        // cuBLAS requires leading dimensions >= 1 even for empty operands.
        cublas.rowMajorGemm(transA, transB, m, n, ka, alpha, address(a), Math.max(1, a.cols()), address(b),
                Math.max(1, b.cols()), beta, address(c), Math.max(1, c.cols()), options.tf32());
    }

    @Override
    public synchronized void axpby(float alpha, Tensor x, float beta, Tensor y) {
        sameSize("axpby", x, y);
        ensureCurrent();
        kernels.axpby(address(x), address(y), alpha, beta, x.size());
    }

    // ---- elementwise ----------------------------------------------------------------------------

    @Override
    public synchronized void add(Tensor a, Tensor b, Tensor out) {
        sameShape("add", a, b);
        sameShape("add", a, out);
        ensureCurrent();
        kernels.add(address(a), address(b), address(out), a.size());
    }

    @Override
    public synchronized void mul(Tensor a, Tensor b, Tensor out) {
        sameShape("mul", a, b);
        sameShape("mul", a, out);
        ensureCurrent();
        kernels.mul(address(a), address(b), address(out), a.size());
    }

    @Override
    public synchronized void scale(Tensor x, float alpha, Tensor out) {
        sameShape("scale", x, out);
        ensureCurrent();
        kernels.scale(address(x), alpha, address(out), x.size());
    }

    @Override
    public synchronized void addRowVector(Tensor x, Tensor bias, Tensor out) {
        sameShape("addRowVector", x, out);
        if (bias.size() != x.cols()) {
            throw new IllegalArgumentException("bias " + bias.shape() + " does not match the columns of " + x.shape());
        }
        ensureCurrent();
        kernels.addRowVector(address(x), address(bias), address(out), x.rows(), x.cols());
    }

    @Override
    public synchronized void relu(Tensor x, Tensor out) {
        sameShape("relu", x, out);
        ensureCurrent();
        kernels.relu(address(x), address(out), x.size());
    }

    @Override
    public synchronized void reluBackward(Tensor x, Tensor dy, Tensor dx) {
        sameShape("reluBackward", x, dy);
        sameShape("reluBackward", x, dx);
        ensureCurrent();
        kernels.reluBackward(address(x), address(dy), address(dx), x.size());
    }

    @Override
    public synchronized void gelu(Tensor x, Tensor out) {
        sameShape("gelu", x, out);
        ensureCurrent();
        kernels.gelu(address(x), address(out), x.size());
    }

    @Override
    public synchronized void geluBackward(Tensor x, Tensor dy, Tensor dx) {
        sameShape("geluBackward", x, dy);
        sameShape("geluBackward", x, dx);
        ensureCurrent();
        kernels.geluBackward(address(x), address(dy), address(dx), x.size());
    }

    @Override
    public synchronized void dropout(Tensor x, float p, long seed, Tensor mask, Tensor out) {
        sameShape("dropout", x, mask);
        sameShape("dropout", x, out);
        if (!(p >= 0f && p < 1f)) {
            throw new IllegalArgumentException("dropout probability must be in [0, 1), got " + p);
        }
        ensureCurrent();
        long threshold = (long) Math.ceil((double) p * 0x1.0p24);
        kernels.dropout(address(x), seed, threshold, 1f / (1f - p), address(mask), address(out), x.size());
    }

    // ---- reductions -----------------------------------------------------------------------------

    @Override
    public synchronized void sumRows(Tensor x, Tensor out) {
        if (out.size() != x.cols()) {
            throw new IllegalArgumentException("sumRows output " + out.shape() + " must have " + x.cols()
                    + " elements for input " + x.shape());
        }
        ensureCurrent();
        kernels.biasGrad(address(x), address(out), x.rows(), x.cols());
    }

    @Override
    public synchronized void sumCols(Tensor x, Tensor out) {
        if (out.size() != x.rows()) {
            throw new IllegalArgumentException("sumCols output " + out.shape() + " must have " + x.rows()
                    + " elements for input " + x.shape());
        }
        ensureCurrent();
        kernels.sumCols(address(x), address(out), x.rows(), x.cols());
    }

    @Override
    public synchronized double sum(Tensor x) {
        return blockedSum(x, false);
    }

    @Override
    public synchronized double sumSquares(Tensor x) {
        return blockedSum(x, true);
    }

    private double blockedSum(Tensor x, boolean squares) {
        ensureCurrent();
        int n = x.size();
        if (n == 0) {
            return 0;
        }
        int blocks = (n + CudaKernels.SUM_BLOCK - 1) / CudaKernels.SUM_BLOCK;
        long bytes = 8L * (blocks + 1);
        long partial = scratch(bytes);
        try (Arena arena = Arena.ofConfined()) {
            kernels.blockSums(address(x), partial, n, squares);
            kernels.sumPartials(partial, partial + 8L * blocks, blocks);
            MemorySegment host = arena.allocate(JAVA_DOUBLE);
            CudaDriver.copyDeviceToHost(host, partial + 8L * blocks, 8, stream);
            CudaDriver.streamSynchronize(stream);
            return host.get(JAVA_DOUBLE, 0);
        } finally {
            releaseScratch(partial, bytes);
        }
    }

    @Override
    public synchronized int[] argmaxRows(Tensor x) {
        ensureCurrent();
        int rows = x.rows();
        int[] out = new int[rows];
        if (rows == 0) {
            return out;
        }
        if (x.cols() == 0) {
            throw new IllegalArgumentException("argmaxRows of " + x.shape() + ": rows have no elements");
        }
        long bytes = 4L * rows;
        long idx = scratch(bytes);
        try (Arena arena = Arena.ofConfined()) {
            kernels.argmaxRows(address(x), idx, rows, x.cols());
            MemorySegment host = arena.allocate(JAVA_INT, rows);
            CudaDriver.copyDeviceToHost(host, idx, bytes, stream);
            CudaDriver.streamSynchronize(stream);
            MemorySegment.copy(host, JAVA_INT, 0, out, 0, rows);
            return out;
        } finally {
            releaseScratch(idx, bytes);
        }
    }

    // ---- softmax and losses ---------------------------------------------------------------------

    @Override
    public synchronized void softmaxRows(Tensor x, Tensor out) {
        sameShape("softmaxRows", x, out);
        ensureCurrent();
        kernels.softmaxRows(address(x), address(out), x.rows(), x.cols(), false);
    }

    @Override
    public synchronized void logSoftmaxRows(Tensor x, Tensor out) {
        sameShape("logSoftmaxRows", x, out);
        ensureCurrent();
        kernels.softmaxRows(address(x), address(out), x.rows(), x.cols(), true);
    }

    @Override
    public synchronized double crossEntropy(Tensor logits, int[] labels, float smoothing, Tensor probs) {
        sameShape("crossEntropy", logits, probs);
        int rows = logits.rows();
        int cols = logits.cols();
        checkLabels(labels, rows, cols);
        ensureCurrent();
        if (rows == 0) {
            return 0;
        }
        long labelBytes = 4L * rows;
        long lossBytes = 8L * rows;
        long dLabels = scratch(labelBytes);
        long dLoss = scratch(lossBytes);
        try (Arena arena = Arena.ofConfined()) {
            uploadLabels(arena, labels, dLabels);
            kernels.crossEntropyForward(address(logits), dLabels, smoothing, address(probs), dLoss, rows, cols);
            MemorySegment host = arena.allocate(JAVA_DOUBLE, rows);
            CudaDriver.copyDeviceToHost(host, dLoss, lossBytes, stream);
            CudaDriver.streamSynchronize(stream);
            double total = 0;
            for (int r = 0; r < rows; r++) {
                total += host.getAtIndex(JAVA_DOUBLE, r); // row order, as CpuBackend adds them
            }
            return total / rows;
        } finally {
            releaseScratch(dLabels, labelBytes);
            releaseScratch(dLoss, lossBytes);
        }
    }

    @Override
    public synchronized void crossEntropyBackward(Tensor probs, int[] labels, float smoothing, float scale,
            Tensor dLogits) {
        sameShape("crossEntropyBackward", probs, dLogits);
        int rows = probs.rows();
        int cols = probs.cols();
        checkLabels(labels, rows, cols);
        ensureCurrent();
        if (rows == 0) {
            return;
        }
        long labelBytes = 4L * rows;
        long dLabels = scratch(labelBytes);
        try (Arena arena = Arena.ofConfined()) {
            uploadLabels(arena, labels, dLabels);
            kernels.crossEntropyBackward(address(probs), dLabels, smoothing, scale, address(dLogits), rows, cols);
        } finally {
            releaseScratch(dLabels, labelBytes);
        }
    }

    private void uploadLabels(Arena arena, int[] labels, long dst) {
        MemorySegment host = arena.allocate(JAVA_INT, labels.length);
        MemorySegment.copy(labels, 0, host, JAVA_INT, 0, labels.length);
        CudaDriver.copyHostToDevice(dst, host, 4L * labels.length, stream);
    }

    private static void checkLabels(int[] labels, int rows, int cols) {
        if (labels.length != rows) {
            throw new IllegalArgumentException(labels.length + " labels for " + rows + " rows of logits");
        }
        for (int l : labels) {
            if (l < 0 || l >= cols) {
                throw new IllegalArgumentException("label " + l + " is outside [0, " + cols + ")");
            }
        }
    }

    // ---- optimizer updates ----------------------------------------------------------------------

    @Override
    public synchronized void adamwStep(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1,
            float beta2, float eps, float weightDecay, long step) {
        sameShape("adamwStep", param, grad);
        sameShape("adamwStep", param, m);
        sameShape("adamwStep", param, v);
        if (step < 1) {
            throw new IllegalArgumentException("Adam step count must be >= 1, got " + step);
        }
        ensureCurrent();
        // The per-step constants exactly as CpuBackend.adamwStep forms them.
        float decay = 1f - lr * weightDecay;
        float bc1 = (float) (1.0 - Math.pow(beta1, step));
        float bc2 = (float) (1.0 - Math.pow(beta2, step));
        float stepSize = lr / bc1;
        float invSqrtBc2 = (float) (1.0 / Math.sqrt(bc2));
        kernels.adamw(address(param), address(grad), address(m), address(v), param.size(), beta1, beta2, 1f - beta1,
                1f - beta2, decay, stepSize, invSqrtBc2, eps);
    }

    @Override
    public synchronized void sgdStep(Tensor param, Tensor grad, Tensor buf, float lr, float momentum, boolean nesterov,
            float weightDecay, boolean firstStep) {
        sameShape("sgdStep", param, grad);
        if (momentum != 0f) {
            if (buf == null) {
                throw new IllegalArgumentException("SGD with momentum needs a momentum buffer");
            }
            sameShape("sgdStep", param, buf);
        }
        ensureCurrent();
        kernels.sgd(address(param), address(grad), momentum != 0f ? address(buf) : 0L, param.size(), lr, momentum,
                nesterov, weightDecay, firstStep);
    }

    // ---- checks and lifetime ------------------------------------------------------------------

    private static void sameShape(String op, Tensor a, Tensor b) {
        if (!a.shape().equals(b.shape())) {
            throw new IllegalArgumentException(op + ": shapes " + a.shape() + " and " + b.shape() + " differ");
        }
    }

    private static void sameSize(String op, Tensor a, Tensor b) {
        if (a.size() != b.size()) {
            throw new IllegalArgumentException(op + ": sizes of " + a.shape() + " and " + b.shape() + " differ");
        }
    }

    /**
     * Waits for queued work, frees all device memory of this backend (tensors still referenced become
     * unusable), and releases the context. Idempotent.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        ensureCurrent();
        try {
            CudaDriver.streamSynchronize(stream);
        } finally {
            closed = true;
            allocator.close();
            kernels.unload();
            cublas.close();
            CudaDriver.streamDestroy(stream);
            CudaDriver.primaryContextRelease(cuDevice);
            CURRENT.remove();
        }
    }

    @Override
    public String toString() {
        return "CudaBackend[" + device + " " + deviceName + (options.tf32() ? ", tf32" : "") + "]";
    }
}
