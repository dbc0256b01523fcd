package dev.oialr4j.cuda;

import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.oialr4j.backend.Backend;
import dev.oialr4j.backend.Conv2dGeometry;
import dev.oialr4j.backend.Conv2dOptions;
import dev.oialr4j.backend.Pool2dGeometry;
import dev.oialr4j.oialr.DeviceSigmaRound;
import dev.oialr4j.tensor.Device;
import dev.oialr4j.tensor.Shape;
import dev.oialr4j.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The {@link Backend} SPI on one NVIDIA GPU: tensors live in device memory ({@link DeviceStorage}), GEMMs go
 * to cuBLAS, everything else to the kernels of oialr4j.fatbin ({@link CudaKernels}). All work is queued on
 * one stream of the device's primary context, in call order, so no op waits for the GPU except those that
 * return host values: {@link #toHost}, {@link #sum}, {@link #sumSquares}, {@link #argmaxRows} and the
 * cross-entropy variant that returns its loss as a double. The training path ({@code Ops.crossEntropy}) keeps
 * the loss and its gradient on the device, so a step waits only where its caller reads the loss. Host↔device
 * copies happen only there and in {@link #fromHost} (through a page-locked staging buffer up to
 * {@link #STAGING_MAX_BYTES}), and for the integer labels of the loss ops, which arrive as a host array.
 *
 * <p>Every SPI method runs on the device: convolutions as im2col + strided-batched cuBLAS GEMMs, attention
 * as strided-batched GEMMs around a masked-softmax kernel (heads read in place from the fused projection),
 * pooling, norms, permutations and slices as kernels (see docs/cuda.md for each). OIALR update rounds run
 * here too ({@link #openSigmaRound}).
 *
 * <p>Numerics against {@code CpuBackend}: elementwise ops, the optimizer updates, the bias gradient
 * ({@link #sumRows}, up to {@link #SEQUENTIAL_COLUMN_ROWS} rows), dropout and drop-path masks, im2col, pooling, permute and slices, and the
 * cross-entropy gradient round identically (bit for bit);
 * GELU uses the GPU's tanhf (within an ulp); sums, softmax and the loss accumulate in double in a
 * different order (within float rounding); GEMM is cuBLAS fp32 (or TF32 when {@link Options#tf32()}).
 *
 * <p>Calls are serialised on this object. The driver's current context is per thread, so each entry point
 * makes the backend's context current on the calling thread first (a thread-local check, no driver call
 * when it already is).
 */
public final class CudaBackend implements Backend, DeviceSigmaRound.Provider {

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
    /** The cuSOLVER handle, made on first use ({@link #solver}). */
    private Cusolver solver;
    /**
     * Page-locked host buffer for {@link #fromHost} and {@link #toHost} up to {@link #STAGING_MAX_BYTES}
     * (grown on demand; null until the first copy, and for good if page-locked memory is refused), and the
     * event recorded after the last upload out of it, which the next copy into it waits for.
     */
    private MemorySegment staging;
    private MemorySegment stagingUploaded;
    private boolean stagingRefused;

    /** Largest copy that goes through the page-locked buffer; larger ones use pageable memory. */
    static final long STAGING_MAX_BYTES = 64L << 20;

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

    /**
     * OIALR update rounds on this GPU ({@link CudaSigmaRound}): {@code Oialr.updateRound} finds this through
     * {@link DeviceSigmaRound.Provider}. Needs cuSOLVER; throws {@link CusolverException} without it.
     */
    @Override
    public DeviceSigmaRound openSigmaRound() {
        return new CudaSigmaRound(this);
    }

    /**
     * The backend's cuSOLVER handle on its stream, made on first use and kept until {@link #close} (a handle
     * takes milliseconds and device memory to make). cuSOLVER allocates device memory of its own when it
     * starts and reports a full device as {@code CUSOLVER_STATUS_INTERNAL_ERROR}; so when the first attempt
     * fails, the allocator's cached blocks go back to the driver ({@link #releaseCachedMemory}) and it is tried
     * once more. Throws {@link CusolverException} without cuSOLVER.
     */
    synchronized Cusolver solver() {
        ensureCurrent();
        if (solver == null) {
            Cusolver created;
            try {
                created = Cusolver.create();
            } catch (CusolverException first) {
                releaseCachedMemory();
                try {
                    created = Cusolver.create();
                } catch (CusolverException again) {
                    long[] mem = CudaDriver.memoryInfo();
                    String reason = Cusolver.statusName(again.status()) + " (" + again.status() + ") twice, the"
                            + " second time after the cached blocks went back to the driver; device memory free "
                            + (mem[0] >> 20) + " of " + (mem[1] >> 20) + " MiB, this backend holding "
                            + (allocator.liveBytes() >> 20) + " MiB in tensors";
                    CusolverException e = new CusolverException(again.call(), again.status(), reason);
                    e.addSuppressed(first);
                    throw e;
                }
            }
            created.setStream(stream);
            solver = created;
        }
        return solver;
    }

    /**
     * Lets the JVM collect unreachable tensors and hands every cached block back to the driver, for libraries
     * that allocate device memory themselves. Waits for the stream.
     */
    public synchronized void releaseCachedMemory() {
        ensureCurrent();
        CudaDriver.streamSynchronize(stream);
        allocator.collectAndReleaseCached();
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
        long bytes = 4L * data.length;
        if (data.length == 0) {
            return t;
        }
        MemorySegment pinned = staging(bytes);
        if (pinned != null) {
            // The upload is asynchronous: the buffer stays untouched until the event after it has passed.
            if (stagingUploaded != null) {
                CudaDriver.eventSynchronize(stagingUploaded);
            }
            MemorySegment.copy(data, 0, pinned, JAVA_FLOAT, 0, data.length);
            CudaDriver.copyHostToDevice(address(t), pinned, bytes, stream);
            if (stagingUploaded == null) {
                stagingUploaded = CudaDriver.eventCreate(CudaDriver.EVENT_DISABLE_TIMING);
            }
            CudaDriver.eventRecord(stagingUploaded, stream);
            return t;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(JAVA_FLOAT, data.length);
            MemorySegment.copy(data, 0, host, JAVA_FLOAT, 0, data.length);
            // From pageable memory the driver stages the data before returning, so the arena may close.
            CudaDriver.copyHostToDevice(address(t), host, bytes, stream);
        }
        return t;
    }

    @Override
    public synchronized float[] toHost(Tensor t) {
        ensureCurrent();
        float[] out = new float[t.size()];
        if (out.length == 0) {
            return out;
        }
        long bytes = 4L * out.length;
        MemorySegment pinned = staging(bytes);
        if (pinned != null) {
            // The download queues behind any upload out of the buffer, and the stream is drained before reading.
            CudaDriver.copyDeviceToHost(pinned, address(t), bytes, stream);
            CudaDriver.streamSynchronize(stream);
            MemorySegment.copy(pinned, JAVA_FLOAT, 0, out, 0, out.length);
            return out;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(JAVA_FLOAT, out.length);
            CudaDriver.copyDeviceToHost(host, address(t), bytes, stream);
            CudaDriver.streamSynchronize(stream);
            MemorySegment.copy(host, JAVA_FLOAT, 0, out, 0, out.length);
        }
        return out;
    }

    /**
     * The page-locked buffer with room for {@code bytes}, or null for a copy above {@link #STAGING_MAX_BYTES}
     * or when the driver refuses page-locked memory (then every copy goes through pageable memory).
     */
    private MemorySegment staging(long bytes) {
        if (bytes > STAGING_MAX_BYTES || stagingRefused) {
            return null;
        }
        if (staging != null && staging.byteSize() >= bytes) {
            return staging;
        }
        ensureCurrent();
        if (staging != null) {
            CudaDriver.streamSynchronize(stream); // no copy may still read the old buffer
            CudaDriver.memFreeHost(staging);
            staging = null;
        }
        long size = Math.min(STAGING_MAX_BYTES, Math.max(1L << 20, Long.highestOneBit(bytes - 1) << 1));
        try {
            staging = CudaDriver.memHostAlloc(size);
        } catch (CudaException e) {
            stagingRefused = true;
        }
        return staging;
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
        if (x.rows() <= SEQUENTIAL_COLUMN_ROWS) {
            kernels.biasGrad(address(x), address(out), x.rows(), x.cols());
        } else {
            columnSums(address(x), 0L, 0L, 0L, address(out), 0L, x.rows(), x.cols(), 0);
        }
    }

    /**
     * Up to this many rows, column sums (bias gradients, layer norm's dγ and dβ) run one thread per column in
     * row order (bias gradients then match CpuBackend bit for bit); above, in two stages over chunks of
     * rows (double partials, float rounding), because one thread per column would leave the GPU idle on
     * (batch · tokens)-row activations.
     */
    static final int SEQUENTIAL_COLUMN_ROWS = 2048;

    private void columnSums(long x, long dy, long mean, long rstd, long out, long out2, int rows, int cols, int mode) {
        int chunks = (rows + CudaKernels.COLUMN_CHUNK - 1) / CudaKernels.COLUMN_CHUNK;
        long bytes = 8L * chunks * cols;
        long p1 = scratch(bytes);
        long p2 = mode == 0 ? 0L : scratch(bytes);
        try {
            kernels.columnPartials(x, dy, mean, rstd, p1, p2, rows, cols, mode);
            kernels.columnFinish(p1, p2, out, out2, chunks, cols);
        } finally {
            releaseScratch(p1, bytes);
            if (p2 != 0L) {
                releaseScratch(p2, bytes);
            }
        }
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
        double[] mean = new double[1];
        crossEntropyRows("crossEntropy", logits, labels, smoothing, probs, (rowLoss, rows) -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment host = arena.allocate(JAVA_DOUBLE, rows);
                CudaDriver.copyDeviceToHost(host, rowLoss, 8L * rows, stream);
                CudaDriver.streamSynchronize(stream);
                double total = 0;
                for (int r = 0; r < rows; r++) {
                    total += host.getAtIndex(JAVA_DOUBLE, r); // row order, as CpuBackend adds them
                }
                mean[0] = total / rows;
            }
        });
        return mean[0];
    }

    /** The loss stays on the device: the mean of the row losses is taken by a kernel, nothing waits. */
    @Override
    public synchronized void crossEntropy(Tensor logits, int[] labels, float smoothing, Tensor probs, Tensor loss) {
        requireSize("crossEntropy loss", loss, 1);
        crossEntropyRows("crossEntropy", logits, labels, smoothing, probs,
                (rowLoss, rows) -> kernels.meanRowLoss(rowLoss, address(loss), rows));
        if (logits.rows() == 0) {
            fill(loss, 0f);
        }
    }

    /** What to do with the device's per-row losses (doubles) before their scratch is released. */
    private interface RowLosses {
        void use(long rowLoss, int rows);
    }

    /** Softmax into probs and the per-row smoothed losses into scratch, handed to {@code then} (rows > 0). */
    private void crossEntropyRows(String op, Tensor logits, int[] labels, float smoothing, Tensor probs,
            RowLosses then) {
        sameShape(op, logits, probs);
        int rows = logits.rows();
        int cols = logits.cols();
        checkLabels(labels, rows, cols);
        ensureCurrent();
        if (rows == 0) {
            return;
        }
        long labelBytes = 4L * rows;
        long lossBytes = 8L * rows;
        long dLabels = scratch(labelBytes);
        long dLoss = scratch(lossBytes);
        try (Arena arena = Arena.ofConfined()) {
            uploadLabels(arena, labels, dLabels);
            kernels.crossEntropyForward(address(logits), dLabels, smoothing, address(probs), dLoss, rows, cols);
            then.use(dLoss, rows);
        } finally {
            releaseScratch(dLabels, labelBytes);
            releaseScratch(dLoss, lossBytes);
        }
    }

    @Override
    public synchronized void crossEntropyBackward(Tensor probs, int[] labels, float smoothing, float scale,
            Tensor dLogits) {
        crossEntropyBackward(probs, labels, smoothing, scale, 0L, dLogits);
    }

    /** The scale dy[0] / rows is read by the kernel on the device. */
    @Override
    public synchronized void crossEntropyBackward(Tensor probs, int[] labels, float smoothing, Tensor dy,
            Tensor dLogits) {
        requireSize("crossEntropyBackward dy", dy, 1);
        crossEntropyBackward(probs, labels, smoothing, 0f, address(dy), dLogits);
    }

    /** dLogits = s (probs - target), s = dy[0] / rows read on the device when dy is not 0, else scale. */
    private void crossEntropyBackward(Tensor probs, int[] labels, float smoothing, float scale, long dy,
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
            kernels.crossEntropyBackward(address(probs), dLabels, smoothing, scale, dy, address(dLogits), rows, cols);
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

    // ---- convolution, pooling, batch norm ------------------------------------------------------

    /**
     * Floats of column matrix a convolution chunk may use (128 MiB), which bounds the images per chunk. Not
     * final so that the stand-in tests can force several chunks on small shapes.
     */
    static long convColumnBudget = 32L << 20;

    private static CudaKernels.ConvDims convDims(Conv2dGeometry g) {
        Conv2dOptions o = g.options();
        return new CudaKernels.ConvDims(g.inChannels(), g.height(), g.width(), g.kernelH(), g.kernelW(), o.strideH(),
                o.strideW(), o.padH(), o.padW(), o.dilationH(), o.dilationW(), g.outHeight(), g.outWidth(),
                g.inPerGroup());
    }

    private static void convInput(String op, Tensor x, Conv2dGeometry g) {
        x.requireShape(op + " input", g.inputDims());
    }


    private static void requireSize(String what, Tensor t, long size) {
        if (t.size() != size) {
            throw new IllegalArgumentException(what + " " + t.shape() + " must have " + size + " elements");
        }
    }

    @Override
    public synchronized void im2col(Tensor x, Conv2dGeometry g, int image0, int images, int group, Tensor cols) {
        convInput("im2col", x, g);
        g.checkImages(image0, images, group);
        requireSize("im2col columns", cols, (long) g.patchSize() * images * g.outHeight() * g.outWidth());
        ensureCurrent();
        kernels.im2colNchw(address(x), address(cols), convDims(g), image0, images, group);
    }

    @Override
    public synchronized void col2im(Tensor cols, Conv2dGeometry g, int image0, int images, int group, Tensor dx) {
        convInput("col2im", dx, g);
        g.checkImages(image0, images, group);
        requireSize("col2im columns", cols, (long) g.patchSize() * images * g.outHeight() * g.outWidth());
        ensureCurrent();
        kernels.col2imNchw(address(cols), address(dx), convDims(g), image0, images, group);
    }

    /** Images per convolution chunk: the whole batch when its column matrix fits the budget. */
    private static int convChunk(Conv2dGeometry g) {
        long perImage = (long) g.patchSize() * g.outHeight() * g.outWidth();
        return (int) Math.max(1, Math.min(g.batch(), convColumnBudget / Math.max(1, perImage)));
    }

    /**
     * Forward convolution per chunk of images and group: im2col into a (patchSize × nb·OHW) column matrix,
     * then one strided-batched GEMM whose entry im writes W_g · cols[:, im·OHW ..] straight into image im's
     * output channels of the group (no scatter).
     */
    @Override
    public synchronized void conv2d(Tensor x, Tensor w, Tensor bias, Conv2dGeometry g, Tensor y) {
        convInput("conv2d", x, g);
        w.requireShape("conv2d weight", g.weightDims());
        y.requireShape("conv2d output", g.outputDims());
        if (bias != null) {
            requireSize("conv2d bias", bias, g.outChannels());
        }
        ensureCurrent();
        CudaKernels.ConvDims d = convDims(g);
        int ohw = g.outHeight() * g.outWidth();
        int og = g.outPerGroup();
        int kg = g.patchSize();
        Conv2dOptions o = g.options();
        boolean direct = g.kernelH() == 1 && g.kernelW() == 1 && o.strideH() == 1 && o.strideW() == 1
                && o.padH() == 0 && o.padW() == 0;
        int nb = direct ? g.batch() : convChunk(g);
        long colBytes = direct ? 4L : 4L * kg * nb * ohw;
        long cols = scratch(colBytes);
        try {
            for (int i0 = 0; i0 < g.batch(); i0 += nb) {
                int n = Math.min(nb, g.batch() - i0);
                for (int grp = 0; grp < g.groups(); grp++) {
                    long yOff = address(y) + 4L * ((long) i0 * g.outChannels() + (long) grp * og) * ohw;
                    long wg = address(w) + 4L * grp * og * kg;
                    if (direct) {
                        // 1×1, stride 1, no padding: image i's channels of the group are already its (kg × OHW)
                        // column matrix, read in place.
                        long xOff = address(x) + 4L * ((long) i0 * g.inChannels() + (long) grp * g.inPerGroup()) * ohw;
                        cublas.rowMajorGemmStridedBatched(false, false, og, ohw, kg, 1f, wg, kg, 0L, xOff, ohw,
                                (long) g.inChannels() * ohw, 0f, yOff, ohw, (long) g.outChannels() * ohw, n);
                        continue;
                    }
                    kernels.im2colNchw(address(x), cols, d, i0, n, grp);
                    cublas.rowMajorGemmStridedBatched(false, false, og, ohw, kg, 1f, wg, kg, 0L, cols, n * ohw, ohw, 0f,
                            yOff, ohw, (long) g.outChannels() * ohw, n);
                }
            }
        } finally {
            releaseScratch(cols, colBytes);
        }
        if (bias != null) {
            kernels.addChannelBias(address(y), address(bias), g.batch(), g.outChannels(), ohw);
        }
    }

    /**
     * Backward per chunk and group: dY of the chunk and group is gathered into an (og × nb·OHW) matrix
     * (strided copy), then dW_g = dwBeta·dW_g + dY·colsᵀ (first chunk) and += for later chunks, in chunk
     * order; dcols = W_gᵀ·dY and col2im adds it onto the zeroed dx.
     */
    @Override
    public synchronized void conv2dBackward(Tensor x, Tensor w, Tensor dy, Conv2dGeometry g, Tensor dx, Tensor dw,
            float dwBeta) {
        convInput("conv2dBackward", x, g);
        w.requireShape("conv2d weight", g.weightDims());
        dy.requireShape("conv2d output gradient", g.outputDims());
        if (dx != null) {
            dx.requireShape("conv2d input gradient", g.inputDims());
        }
        if (dw != null) {
            dw.requireShape("conv2d weight gradient", g.weightDims());
        }
        ensureCurrent();
        if (dx == null && dw == null) {
            return;
        }
        CudaKernels.ConvDims d = convDims(g);
        int ohw = g.outHeight() * g.outWidth();
        int og = g.outPerGroup();
        int kg = g.patchSize();
        int nb = convChunk(g);
        long colBytes = 4L * kg * nb * ohw;
        long dyBytes = 4L * og * nb * ohw;
        long cols = scratch(colBytes);
        long dyg = scratch(dyBytes);
        try {
            if (dx != null) {
                CudaDriver.memsetD32(address(dx), 0, dx.size(), stream);
            }
            for (int i0 = 0; i0 < g.batch(); i0 += nb) {
                int n = Math.min(nb, g.batch() - i0);
                for (int grp = 0; grp < g.groups(); grp++) {
                    // dyg[o, im, p] = dy[i0 + im, grp·og + o, p]
                    kernels.stridedCopy(address(dy), dyg, ((long) i0 * g.outChannels() + (long) grp * og) * ohw,
                            new int[] {og, n, ohw}, new long[] {ohw, (long) g.outChannels() * ohw, 1});
                    long wg = address(w) + 4L * grp * og * kg;
                    if (dw != null) {
                        kernels.im2colNchw(address(x), cols, d, i0, n, grp);
                        cublas.rowMajorGemm(false, true, og, kg, n * ohw, 1f, dyg, n * ohw, cols, n * ohw,
                                i0 == 0 ? dwBeta : 1f, address(dw) + 4L * grp * og * kg, kg, options.tf32());
                    }
                    if (dx != null) {
                        cublas.rowMajorGemm(true, false, kg, n * ohw, og, 1f, wg, kg, dyg, n * ohw, 0f, cols, n * ohw,
                                options.tf32());
                        kernels.col2imNchw(cols, address(dx), d, i0, n, grp);
                    }
                }
            }
        } finally {
            releaseScratch(cols, colBytes);
            releaseScratch(dyg, dyBytes);
        }
    }

    @Override
    public synchronized void maxPool2d(Tensor x, Pool2dGeometry g, Tensor y) {
        x.requireShape("maxPool2d input", g.inputDims());
        y.requireShape("maxPool2d output", g.outputDims());
        ensureCurrent();
        pool(address(x), address(y), g, 0);
    }

    @Override
    public synchronized void maxPool2dBackward(Tensor x, Tensor dy, Pool2dGeometry g, Tensor dx) {
        x.requireShape("maxPool2d input", g.inputDims());
        dy.requireShape("maxPool2d output gradient", g.outputDims());
        dx.requireShape("maxPool2d input gradient", g.inputDims());
        ensureCurrent();
        poolBackward(address(x), address(dy), address(dx), g, 0);
    }

    @Override
    public synchronized void avgPool2d(Tensor x, Pool2dGeometry g, Tensor y) {
        x.requireShape("avgPool2d input", g.inputDims());
        y.requireShape("avgPool2d output", g.outputDims());
        ensureCurrent();
        pool(address(x), address(y), g, 1);
    }

    @Override
    public synchronized void avgPool2dBackward(Tensor dy, Pool2dGeometry g, Tensor dx) {
        dy.requireShape("avgPool2d output gradient", g.outputDims());
        dx.requireShape("avgPool2d input gradient", g.inputDims());
        ensureCurrent();
        poolBackward(0L, address(dy), address(dx), g, 1);
    }

    private void pool(long x, long y, Pool2dGeometry g, int mode) {
        kernels.pool2d(x, y, g.batch() * g.channels(), g.height(), g.width(), g.kernelH(), g.kernelW(), g.strideH(),
                g.strideW(), g.padH(), g.padW(), g.outHeight(), g.outWidth(), mode);
    }

    private void poolBackward(long x, long dy, long dx, Pool2dGeometry g, int mode) {
        kernels.pool2dBackward(x, dy, dx, g.batch() * g.channels(), g.height(), g.width(), g.kernelH(), g.kernelW(),
                g.strideH(), g.strideW(), g.padH(), g.padW(), g.outHeight(), g.outWidth(), mode);
    }

    @Override
    public synchronized void globalAvgPool(Tensor x, Tensor y) {
        if (x.rank() != 4) {
            throw new IllegalArgumentException("globalAvgPool needs an input [N, C, H, W], got " + x.shape());
        }
        y.requireShape("globalAvgPool output", x.dim(0), x.dim(1));
        ensureCurrent();
        kernels.globalAvgPool(address(x), address(y), x.dim(0) * x.dim(1), x.dim(2) * x.dim(3));
    }

    @Override
    public synchronized void globalAvgPoolBackward(Tensor dy, Tensor dx) {
        if (dx.rank() != 4) {
            throw new IllegalArgumentException("globalAvgPoolBackward needs dx [N, C, H, W], got " + dx.shape());
        }
        dy.requireShape("globalAvgPool output gradient", dx.dim(0), dx.dim(1));
        ensureCurrent();
        kernels.globalAvgPoolBackward(address(dy), address(dx), dx.dim(0) * dx.dim(1), dx.dim(2) * dx.dim(3));
    }

    @Override
    public synchronized void batchNorm2d(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
            boolean training, float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        int c = batchNormChannels("batchNorm2d", x, gamma, beta, runningMean, runningVar, saveMean, saveInvStd);
        sameShape("batchNorm2d", x, y);
        if (training && x.dim(0) * x.dim(2) * x.dim(3) < 2) {
            throw new IllegalArgumentException("batchNorm2d in training mode needs more than one value per channel,"
                    + " got input " + x.shape());
        }
        withBatchNormPartials(x, c, training, (hw, splits, sums, squares) -> kernels.batchNorm2d(address(x),
                address(gamma), address(beta), address(runningMean), address(runningVar), training, momentum, eps,
                address(y), address(saveMean), address(saveInvStd), x.dim(0), c, hw, sums, squares, splits));
    }

    /**
     * Elements of one channel a batch-norm block covers at least (the kernels split each channel into slices
     * so that layers with few channels fill the device); tests lower it to force many uneven slices.
     */
    static int batchNormSliceElements = 2048;

    @Override
    public synchronized void batchNorm2dBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
            boolean training, Tensor dx, Tensor dGamma, Tensor dBeta) {
        int c = batchNormChannels("batchNorm2dBackward", x, gamma, dGamma, dBeta, saveMean, saveInvStd);
        sameShape("batchNorm2dBackward", x, dy);
        if (dx != null) {
            sameShape("batchNorm2dBackward", x, dx);
        }
        withBatchNormPartials(x, c, true, (hw, splits, sumDy, sumDyX) -> kernels.batchNorm2dBackward(address(x),
                address(dy), address(gamma), address(saveMean), address(saveInvStd), training,
                dx == null ? 0L : address(dx), address(dGamma), address(dBeta), x.dim(0), c, hw, sumDy, sumDyX,
                splits));
    }

    /** A batch-norm launch given the plane size, the slices per channel and two partial arrays. */
    private interface BatchNormLaunch {
        void run(int hw, int splits, long first, long second);
    }

    /**
     * Runs {@code launch} with the slice count for x's channels and, when {@code partials}, two scratch arrays
     * of channels · splits doubles (one block, released after the launch is queued); 0 and 0 otherwise.
     */
    private void withBatchNormPartials(Tensor x, int channels, boolean partials, BatchNormLaunch launch) {
        ensureCurrent();
        int hw = x.dim(2) * x.dim(3);
        int splits = kernels.batchNormSplits((long) x.dim(0) * hw, channels, batchNormSliceElements);
        if (!partials) {
            launch.run(hw, splits, 0L, 0L);
            return;
        }
        long half = 8L * channels * splits;
        long block = scratch(2 * half);
        try {
            launch.run(hw, splits, block, block + half);
        } finally {
            releaseScratch(block, 2 * half);
        }
    }

    private static int batchNormChannels(String op, Tensor x, Tensor... perChannel) {
        if (x.rank() != 4) {
            throw new IllegalArgumentException(op + " needs an input [N, C, H, W], got " + x.shape());
        }
        int c = x.dim(1);
        for (Tensor t : perChannel) {
            if (t.size() != c) {
                throw new IllegalArgumentException(op + ": per-channel tensor " + t.shape() + " does not match the "
                        + c + " channels of input " + x.shape());
            }
        }
        return c;
    }

    // ---- layer norm, attention ----------------------------------------------------------------

    @Override
    public synchronized void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor out, Tensor mean,
            Tensor rstd) {
        int rows = x.rows();
        int cols = x.cols();
        if (gamma.size() != cols || beta.size() != cols) {
            throw new IllegalArgumentException("layerNorm: gamma " + gamma.shape() + " and beta " + beta.shape()
                    + " must have " + cols + " elements for input " + x.shape());
        }
        sameShape("layerNorm", x, out);
        rowStats("layerNorm", x, mean, rstd);
        if (!(eps >= 0f)) {
            throw new IllegalArgumentException("layerNorm: eps must be >= 0, got " + eps);
        }
        ensureCurrent();
        kernels.layerNormForward(address(x), address(gamma), address(beta), address(out), address(mean),
                address(rstd), rows, cols, eps);
    }

    @Override
    public synchronized void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy, Tensor dx,
            Tensor dGamma, Tensor dBeta) {
        int rows = x.rows();
        int cols = x.cols();
        if (gamma.size() != cols || dGamma.size() != cols || dBeta.size() != cols) {
            throw new IllegalArgumentException("layerNormBackward: gamma " + gamma.shape() + ", dGamma "
                    + dGamma.shape() + " and dBeta " + dBeta.shape() + " must have " + cols + " elements for input "
                    + x.shape());
        }
        sameShape("layerNormBackward", x, dy);
        sameShape("layerNormBackward", x, dx);
        rowStats("layerNormBackward", x, mean, rstd);
        ensureCurrent();
        kernels.layerNormBackward(address(x), address(gamma), address(dy), address(mean), address(rstd), address(dx),
                rows, cols);
        if (rows <= SEQUENTIAL_COLUMN_ROWS) {
            kernels.layerNormParamGrads(address(x), address(dy), address(mean), address(rstd), address(dGamma),
                    address(dBeta), rows, cols);
        } else {
            columnSums(address(x), address(dy), address(mean), address(rstd), address(dGamma), address(dBeta), rows,
                    cols, 1);
        }
    }

    private static void rowStats(String op, Tensor x, Tensor mean, Tensor rstd) {
        if (mean.size() != x.rows() || rstd.size() != x.rows()) {
            throw new IllegalArgumentException(op + ": mean " + mean.shape() + " and rstd " + rstd.shape()
                    + " must have one element per row of " + x.shape());
        }
    }

    @Override
    public synchronized void batchedGemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta,
            Tensor c) {
        if (a.rank() != 3 || b.rank() != 3 || c.rank() != 3 || a.dim(0) != b.dim(0) || a.dim(0) != c.dim(0)) {
            throw new IllegalArgumentException("batchedGemm needs 3-D tensors with one batch size, got A "
                    + a.shape() + ", B " + b.shape() + ", C " + c.shape());
        }
        int batch = a.dim(0);
        int m = transA ? a.dim(2) : a.dim(1);
        int ka = transA ? a.dim(1) : a.dim(2);
        int kb = transB ? b.dim(2) : b.dim(1);
        int n = transB ? b.dim(1) : b.dim(2);
        if (ka != kb || c.dim(1) != m || c.dim(2) != n) {
            throw new IllegalArgumentException("batchedGemm shapes do not match: op(A) from " + a.shape()
                    + (transA ? "ᵀ" : "") + ", op(B) from " + b.shape() + (transB ? "ᵀ" : "") + ", C " + c.shape());
        }
        ensureCurrent();
        if (batch == 0 || m == 0 || n == 0) {
            return;
        }
        cublas.rowMajorGemmStridedBatched(transA, transB, m, n, ka, alpha, address(a), Math.max(1, a.dim(2)),
                (long) a.dim(1) * a.dim(2), address(b), Math.max(1, b.dim(2)), (long) b.dim(1) * b.dim(2), beta,
                address(c), Math.max(1, n), (long) m * n, batch);
    }

    /**
     * Where the (rows × cols) matrix of attention entry e = sample · heads + head starts and its row stride:
     * dense per-entry tensors have heads = 1; heads packed side by side in a (batch, tokens, parts · width)
     * projection have one base per head.
     */
    private record Layout(long address, int heads, long sampleStride, long headStride, int ld) {
        static Layout dense(long address, int rows, int cols) {
            return new Layout(address, 1, (long) rows * cols, 0, cols);
        }

        long head(int h) {
            return address + 4L * h * headStride;
        }
    }

    /**
     * Batched GEMM over the entries of one head: entry b of head h is sample b. With one head per entry
     * (dense) this is one strided-batched call over all entries.
     */
    private void headGemm(boolean ta, boolean tb, int m, int n, int k, float alpha, Layout a, Layout b, float beta,
            Layout c, int samples, int heads) {
        for (int h = 0; h < heads; h++) {
            cublas.rowMajorGemmStridedBatched(ta, tb, m, n, k, alpha, a.head(h), a.ld(), a.sampleStride(), b.head(h),
                    b.ld(), b.sampleStride(), beta, c.head(h), c.ld(), c.sampleStride(), samples);
        }
    }

    /** Scores, masked softmax and the value product for {@code samples · heads} entries. */
    private void attend(int samples, int heads, int tq, int tk, int dh, int dv, Layout q, Layout k, Layout v,
            long mask, float scale, long probs, Layout out) {
        Layout p = new Layout(probs, heads, (long) heads * tq * tk, (long) tq * tk, tk);
        headGemm(false, true, tq, tk, dh, scale, q, k, 0f, p, samples, heads);
        kernels.maskedSoftmaxRows(probs, mask, samples * heads * tq, tk, tq);
        headGemm(false, false, tq, dv, tk, 1f, p, v, 0f, out, samples, heads);
    }

    private void attendBackward(int samples, int heads, int tq, int tk, int dh, int dv, Layout q, Layout dq, Layout k,
            Layout dk, Layout v, Layout dvl, long probs, Layout dOut, float scale) {
        Layout p = new Layout(probs, heads, (long) heads * tq * tk, (long) tq * tk, tk);
        long bytes = 4L * samples * heads * tq * tk;
        long ds = scratch(bytes);
        try {
            Layout s = new Layout(ds, heads, (long) heads * tq * tk, (long) tq * tk, tk);
            // dP = dO · Vᵀ, dV = Pᵀ · dO, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ = scale·dS·K, dK = scale·dSᵀ·Q
            headGemm(false, true, tq, tk, dv, 1f, dOut, v, 0f, s, samples, heads);
            headGemm(true, false, tk, dv, tq, 1f, p, dOut, 0f, dvl, samples, heads);
            kernels.softmaxBackwardInPlace(probs, ds, samples * heads * tq, tk);
            headGemm(false, false, tq, dh, tk, scale, s, k, 0f, dq, samples, heads);
            headGemm(true, false, tk, dh, tq, scale, s, q, 0f, dk, samples, heads);
        } finally {
            releaseScratch(ds, bytes);
        }
    }

    private static int[] checkAttention(String op, Tensor q, Tensor k, Tensor v) {
        if (q.rank() != 3 || k.rank() != 3 || v.rank() != 3 || q.dim(0) != k.dim(0) || q.dim(0) != v.dim(0)
                || q.dim(2) != k.dim(2) || k.dim(1) != v.dim(1)) {
            throw new IllegalArgumentException(op + ": q " + q.shape() + ", k " + k.shape() + " and v " + v.shape()
                    + " must be (batch, queries, d), (batch, keys, d) and (batch, keys, dv)");
        }
        return new int[] {q.dim(0), q.dim(1), k.dim(1), q.dim(2), v.dim(2)};
    }

    @Override
    public synchronized void attention(Tensor q, Tensor k, Tensor v, Tensor mask, float scale, Tensor probs,
            Tensor out) {
        int[] d = checkAttention("attention", q, k, v);
        int batch = d[0], tq = d[1], tk = d[2], dh = d[3], dv = d[4];
        if (probs.rank() != 3 || probs.dim(0) != batch || probs.dim(1) != tq || probs.dim(2) != tk) {
            throw new IllegalArgumentException("attention: probs " + probs.shape() + " must be (" + batch + ", " + tq
                    + ", " + tk + ") for q " + q.shape() + " and k " + k.shape());
        }
        if (out.rank() != 3 || out.dim(0) != batch || out.dim(1) != tq || out.dim(2) != dv) {
            throw new IllegalArgumentException("attention: output " + out.shape() + " must be (" + batch + ", " + tq
                    + ", " + dv + ") for q " + q.shape() + " and v " + v.shape());
        }
        if (mask != null && mask.size() != tq * tk) {
            throw new IllegalArgumentException("attention: mask " + mask.shape() + " must be (" + tq + ", " + tk
                    + ") for q " + q.shape() + " and k " + k.shape());
        }
        ensureCurrent();
        if (batch * tq * tk == 0) {
            return;
        }
        attend(batch, 1, tq, tk, dh, dv, Layout.dense(address(q), tq, dh), Layout.dense(address(k), tk, dh),
                Layout.dense(address(v), tk, dv), mask == null ? 0L : address(mask), scale, address(probs),
                Layout.dense(address(out), tq, dv));
    }

    @Override
    public synchronized void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor probs, Tensor dOut, float scale,
            Tensor dq, Tensor dk, Tensor dv) {
        int[] d = checkAttention("attentionBackward", q, k, v);
        int batch = d[0], tq = d[1], tk = d[2], dh = d[3], dvd = d[4];
        if (probs.size() != batch * tq * tk || dOut.size() != batch * tq * dvd || !dq.shape().equals(q.shape())
                || !dk.shape().equals(k.shape()) || !dv.shape().equals(v.shape())) {
            throw new IllegalArgumentException("attentionBackward: probs " + probs.shape() + ", dOut " + dOut.shape()
                    + ", dq " + dq.shape() + ", dk " + dk.shape() + ", dv " + dv.shape() + " do not match q "
                    + q.shape() + ", k " + k.shape() + ", v " + v.shape());
        }
        ensureCurrent();
        if (batch * tq * tk == 0) {
            return;
        }
        attendBackward(batch, 1, tq, tk, dh, dvd, Layout.dense(address(q), tq, dh), Layout.dense(address(dq), tq, dh),
                Layout.dense(address(k), tk, dh), Layout.dense(address(dk), tk, dh), Layout.dense(address(v), tk, dvd),
                Layout.dense(address(dv), tk, dvd), address(probs), Layout.dense(address(dOut), tq, dvd), scale);
    }

    private static int[] checkPacked(String op, Tensor qkv, int heads) {
        if (qkv.rank() != 3 || heads < 1 || qkv.dim(2) % (3 * heads) != 0 || qkv.dim(2) == 0) {
            throw new IllegalArgumentException(op + ": qkv " + qkv.shape() + " is not (batch, tokens, 3 · " + heads
                    + " · d)");
        }
        return new int[] {qkv.dim(0), qkv.dim(1), qkv.dim(2) / (3 * heads)};
    }

    /** Part {@code part} (0 q, 1 k, 2 v) of a fused (batch, tokens, 3 · heads · d) projection at {@code address}. */
    private static Layout packed(long address, int heads, int tokens, int d, int part) {
        int w = heads * d;
        return new Layout(address + 4L * part * w, heads, (long) tokens * 3 * w, d, 3 * w);
    }

    @Override
    public synchronized void multiHeadAttention(Tensor qkv, int heads, Tensor mask, float scale, Tensor probs,
            Tensor out) {
        int[] s = checkPacked("multiHeadAttention", qkv, heads);
        int batch = s[0], t = s[1], d = s[2], w = heads * d;
        if (probs.rank() != 3 || probs.dim(0) != batch * heads || probs.dim(1) != t || probs.dim(2) != t) {
            throw new IllegalArgumentException("multiHeadAttention: probs " + probs.shape() + " must be ("
                    + batch * heads + ", " + t + ", " + t + ") for qkv " + qkv.shape() + " and " + heads + " heads");
        }
        if (out.rank() != 3 || out.dim(0) != batch || out.dim(1) != t || out.dim(2) != w) {
            throw new IllegalArgumentException("multiHeadAttention: output " + out.shape() + " must be (" + batch
                    + ", " + t + ", " + w + ") for qkv " + qkv.shape());
        }
        if (mask != null && mask.size() != t * t) {
            throw new IllegalArgumentException("multiHeadAttention: mask " + mask.shape() + " must be (" + t + ", "
                    + t + ") for qkv " + qkv.shape());
        }
        ensureCurrent();
        if (batch * t == 0) {
            return;
        }
        long x = address(qkv);
        attend(batch, heads, t, t, d, d, packed(x, heads, t, d, 0), packed(x, heads, t, d, 1),
                packed(x, heads, t, d, 2), mask == null ? 0L : address(mask), scale, address(probs),
                new Layout(address(out), heads, (long) t * w, d, w));
    }

    @Override
    public synchronized void multiHeadAttentionBackward(Tensor qkv, int heads, Tensor probs, Tensor dOut, float scale,
            Tensor dQkv) {
        int[] s = checkPacked("multiHeadAttentionBackward", qkv, heads);
        int batch = s[0], t = s[1], d = s[2], w = heads * d;
        if (probs.size() != batch * heads * t * t || dOut.size() != batch * t * w
                || !dQkv.shape().equals(qkv.shape())) {
            throw new IllegalArgumentException("multiHeadAttentionBackward: probs " + probs.shape() + ", dOut "
                    + dOut.shape() + " and dQkv " + dQkv.shape() + " do not match qkv " + qkv.shape() + " with "
                    + heads + " heads");
        }
        ensureCurrent();
        if (batch * t == 0) {
            return;
        }
        long x = address(qkv);
        long g = address(dQkv);
        attendBackward(batch, heads, t, t, d, d, packed(x, heads, t, d, 0), packed(g, heads, t, d, 0),
                packed(x, heads, t, d, 1), packed(g, heads, t, d, 1), packed(x, heads, t, d, 2),
                packed(g, heads, t, d, 2), address(probs), new Layout(address(dOut), heads, (long) t * w, d, w), scale);
    }

    @Override
    public synchronized void permute(Tensor x, int[] perm, Tensor out) {
        Backend.checkPermute(x, perm, out);
        int r = x.rank();
        int[] xd = x.dims();
        int[] od = out.dims();
        ensureCurrent();
        if (x.size() == 0) {
            return;
        }
        long[] xStride = new long[r];
        long s = 1;
        for (int i = r - 1; i >= 0; i--) {
            xStride[i] = s;
            s *= xd[i];
        }
        // Merge neighbouring output axes that stay neighbours in x, so any rank that collapses to six
        // axes or fewer runs as one strided copy.
        int[] dims = new int[r];
        long[] st = new long[r];
        int m = 0;
        for (int i = 0; i < r; i++) {
            long stride = xStride[perm[i]];
            if (m > 0 && st[m - 1] == stride * od[i]) {
                dims[m - 1] *= od[i];
                st[m - 1] = stride;
            } else {
                dims[m] = od[i];
                st[m] = stride;
                m++;
            }
        }
        if (m > 6) {
            throw new IllegalArgumentException("permute on the GPU handles up to 6 non-mergeable axes, got " + m
                    + " for " + x.shape() + " and axes " + Arrays.toString(perm));
        }
        kernels.stridedCopy(address(x), address(out), 0L, Arrays.copyOf(dims, m), Arrays.copyOf(st, m));
    }

    private static void checkNarrow(String op, Tensor big, int start, Tensor small) {
        if (big.rank() != 3 || small.rank() != 3 || big.dim(0) != small.dim(0) || big.dim(2) != small.dim(2)
                || start < 0 || start + small.dim(1) > big.dim(1)) {
            throw new IllegalArgumentException(op + ": a slice " + small.shape() + " starting at token " + start
                    + " does not fit " + big.shape() + " (both must be 3-D with equal outer and inner sizes)");
        }
    }

    @Override
    public synchronized void narrow(Tensor x, int start, Tensor out) {
        checkNarrow("narrow", x, start, out);
        ensureCurrent();
        if (out.size() == 0) {
            return;
        }
        int n = x.dim(1);
        int inner = x.dim(2);
        kernels.stridedCopy(address(x), address(out), (long) start * inner, new int[] {x.dim(0), out.dim(1) * inner},
                new long[] {(long) n * inner, 1});
    }

    @Override
    public synchronized void addNarrowed(Tensor src, int start, Tensor dst) {
        checkNarrow("addNarrowed", dst, start, src);
        ensureCurrent();
        kernels.addNarrowed(address(src), address(dst), dst.dim(0), dst.dim(1), src.dim(1), dst.dim(2), start);
    }

    @Override
    public synchronized void dropPathMask(float p, long seed, Tensor mask) {
        if (!(p >= 0f && p < 1f)) {
            throw new IllegalArgumentException("drop-path probability must be in [0, 1), got " + p);
        }
        ensureCurrent();
        kernels.dropPathMask(p, seed, 1f / (1f - p), address(mask), mask.size());
    }

    @Override
    public synchronized void scaleSamples(Tensor x, Tensor scale, Tensor out) {
        if (x.rank() < 1 || scale.size() != x.dim(0) || out.size() != x.size()) {
            throw new IllegalArgumentException("scaleSamples: scale " + scale.shape() + " needs one element per sample"
                    + " of " + x.shape() + ", and output " + out.shape() + " the input's size");
        }
        ensureCurrent();
        int samples = x.dim(0);
        kernels.scaleSamples(address(x), address(scale), address(out), samples, samples == 0 ? 0 : x.size() / samples);
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
            if (staging != null) {
                CudaDriver.memFreeHost(staging);
            }
            if (stagingUploaded != null) {
                CudaDriver.eventDestroy(stagingUploaded);
            }
            if (solver != null) {
                solver.close();
            }
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
