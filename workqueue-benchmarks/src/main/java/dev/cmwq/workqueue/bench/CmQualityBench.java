package dev.cmwq.workqueue.bench;

import dev.cmwq.workqueue.Work;
import dev.cmwq.workqueue.Workqueue;
import dev.cmwq.workqueue.Workqueues;
import dev.cmwq.workqueue.WqFlag;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.lang.management.ThreadMXBean;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Concurrency-management quality of the engine:
 * <ol>
 * <li>latency from a worker blocking to the next pending item starting, per detection path
 *     (explicit hook {@link Workqueues#blocking} vs the sampled sleep monitor at its default 1 ms)
 *     and blocking kind (sleep, lock, socket read), on a 1-CPU engine: item A records t0 right
 *     before it blocks for 20 ms, item B queued behind it on the same bound queue records its start;</li>
 * <li>CPU used by an idle engine against a JVM without one, over the same time;</li>
 * <li>threads and heap per idle workqueue, and the heap per idle bound and unbound queue on engines
 *     told they have more CPUs ({@code Workqueues.Builder.cpus}: a bound queue has a pool
 *     workqueue per CPU);</li>
 * <li>threads kept per model once many queues have each run a few items and gone idle: the engine
 *     (the perf-wq backends {@code cmwq} with a MEM_RECLAIM rescuer per queue, {@code cmwq-plain}
 *     without) against the legacy per-queue models ({@code legacy-mt}: a pool of one thread per
 *     CPU per queue, {@code legacy-st}: one thread per queue) and the shared {@code cached} and
 *     {@code virtual} executors, all as {@link PerfWqBackend} makes them;</li>
 * <li>heap per pending item: a backlog of distinct items behind a blocked queue, as a plain
 *     {@link Work}, as tasks of the executor view ({@link Workqueue#asExecutor()}) and of a fixed
 *     {@code ThreadPoolExecutor} (each task a distinct 16-byte {@code Runnable}, counted in).</li>
 * </ol>
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp workqueue-benchmarks/target/benchmarks.jar \
 *     dev.cmwq.workqueue.bench.CmQualityBench [reps] [idleSeconds] [queues]
 * </pre>
 * Defaults: 200 repetitions per path and kind, 10 s idle, 1000 queues.
 */
public final class CmQualityBench {

    public enum Kind { SLEEP, LOCK, SOCKET }

    public enum Path { HOOK, SAMPLED }

    /** Latencies in microseconds. */
    public record Latency(Kind kind, Path path, int n, double p50Us, double p99Us, double maxUs) {
    }

    public record Idle(double seconds, double baselineCpuMs, double engineCpuMs, int engineThreads) {
        public double extraCpuPercentOfCore() {
            return (engineCpuMs - baselineCpuMs) / (seconds * 1000) * 100;
        }
    }

    public record Queues(int queues, int threadsBefore, int threadsAfter, long heapBefore, long heapAfter,
                         int reclaimQueues, int reclaimThreadsAdded) {
        public double threadsPerQueue() {
            return (double) (threadsAfter - threadsBefore) / queues;
        }

        public double bytesPerQueue() {
            return (double) (heapAfter - heapBefore) / queues;
        }
    }

    /** Threads and heap that {@code model} keeps for {@code queues} queues that each ran {@code itemsPerQueue} items. */
    public record UsedQueues(String model, int queues, int itemsPerQueue, int threadsAdded, long heapAdded) {
        public double threadsPerQueue() {
            return (double) threadsAdded / queues;
        }

        public double bytesPerQueue() {
            return (double) heapAdded / queues;
        }
    }

    /** Heap per idle queue on an engine of {@code engineCpus} CPUs. */
    public record QueueHeap(int engineCpus, int queues, double boundBytesPerQueue, double unboundBytesPerQueue) {
    }

    /** Heap that {@code items} pending items of {@code model} hold, after GC. */
    public record PendingHeap(String model, int items, long heapAdded) {
        public double bytesPerItem() {
            return (double) heapAdded / items;
        }
    }

    public record Report(List<Latency> latencies, Idle idle, Queues queues, List<QueueHeap> heapByCpus, List<UsedQueues> used,
                         List<PendingHeap> pending) {
    }

    static final long BLOCK_NANOS = 20_000_000L;
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static final MemoryMXBean MEMORY = ManagementFactory.getMemoryMXBean();

    private CmQualityBench() {
    }

    public static void main(String[] args) throws Exception {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 200;
        double idle = args.length > 1 ? Double.parseDouble(args[1]) : 10;
        int queues = args.length > 2 ? Integer.parseInt(args[2]) : 1000;
        Report r = run(reps, idle, queues, System.out);
        System.out.println();
        System.out.println(table(r));
        System.exit(0);
    }

    public static Report run(int reps, double idleSeconds, int queues, PrintStream out) throws Exception {
        List<Latency> lat = new ArrayList<>();
        for (Kind k : Kind.values()) {
            for (Path p : Path.values()) {
                Latency l = latency(k, p, reps);
                out.printf(Locale.ROOT, "latency %-6s %-7s: p50 %.0f us, p99 %.0f us, max %.0f us (n=%d)%n", k, p, l.p50Us(),
                        l.p99Us(), l.maxUs(), l.n());
                lat.add(l);
            }
        }
        Idle idle = idle(idleSeconds);
        out.printf(Locale.ROOT, "idle %.1f s: baseline JVM %.1f ms CPU, with an idle engine %.1f ms CPU (%d engine threads)%n",
                idle.seconds(), idle.baselineCpuMs(), idle.engineCpuMs(), idle.engineThreads());
        Queues q = queues(queues);
        out.printf(Locale.ROOT, "%d idle queues: threads %d -> %d, heap %d -> %d bytes; %d MEM_RECLAIM queues added %d threads%n",
                q.queues(), q.threadsBefore(), q.threadsAfter(), q.heapBefore(), q.heapAfter(), q.reclaimQueues(),
                q.reclaimThreadsAdded());
        List<QueueHeap> heapByCpus = new ArrayList<>();
        for (int cpus : new int[] {Runtime.getRuntime().availableProcessors(), 8, 64}) {
            QueueHeap h = queueHeap(cpus, queues);
            out.printf(Locale.ROOT, "%d-CPU engine: %.0f bytes of heap per idle bound queue, %.0f per unbound%n", h.engineCpus(),
                    h.boundBytesPerQueue(), h.unboundBytesPerQueue());
            heapByCpus.add(h);
        }
        List<UsedQueues> used = new ArrayList<>();
        for (String model : PerfWqBackend.DEFAULTS) {
            UsedQueues u = usedQueues(model, queues);
            out.printf(Locale.ROOT, "%d queues of %s, each ran %d items, now idle: %d threads added, %.0f bytes of heap per queue%n",
                    u.queues(), u.model(), u.itemsPerQueue(), u.threadsAdded(), u.bytesPerQueue());
            used.add(u);
        }
        List<PendingHeap> pending = new ArrayList<>();
        for (String model : PENDING_MODELS) {
            PendingHeap h = pendingHeap(model, queues * 100);
            out.printf(Locale.ROOT, "%d pending items, %s: %.1f bytes of heap per item%n", h.items(), h.model(), h.bytesPerItem());
            pending.add(h);
        }
        return new Report(lat, idle, q, heapByCpus, used, pending);
    }

    // ---- (a) latency ---------------------------------------------------------------------------

    static Latency latency(Kind kind, Path path, int reps) throws Exception {
        int warmup = Math.max(2, reps / 10);
        long[] samples = new long[reps];
        try (Workqueues engine = Workqueues.builder().cpus(1).name("cmq-" + kind + "-" + path).build();
             ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
             Socket client = new Socket(InetAddress.getLoopbackAddress(), server.getLocalPort());
             Socket peer = server.accept()) {
            Workqueue wq = engine.alloc("cmq-lat", 0);
            InputStream in = client.getInputStream();
            OutputStream outToA = peer.getOutputStream();
            ReentrantLock lock = new ReentrantLock();
            for (int i = -warmup; i < reps; i++) {
                long[] t = new long[2];
                CountDownLatch aStarted = new CountDownLatch(1);
                CountDownLatch done = new CountDownLatch(2);
                if (kind == Kind.LOCK) {
                    lock.lock();
                }
                Work a = new Work("A", () -> {
                    try {
                        t[0] = System.nanoTime();
                        aStarted.countDown();
                        if (path == Path.HOOK) {
                            Workqueues.blocking(() -> block(kind, lock, in));
                        } else {
                            block(kind, lock, in);
                        }
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    } finally {
                        done.countDown();
                    }
                });
                Work b = new Work("B", () -> {
                    t[1] = System.nanoTime();
                    done.countDown();
                });
                wq.queue(a);
                wq.queue(b);
                if (!aStarted.await(5, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("item A did not start");
                }
                if (kind != Kind.SLEEP) {
                    long release = t0(t) + BLOCK_NANOS;
                    long left;
                    while ((left = release - System.nanoTime()) > 0) {
                        TimeUnit.NANOSECONDS.sleep(left);
                    }
                    if (kind == Kind.LOCK) {
                        lock.unlock();
                    } else {
                        outToA.write(1);
                        outToA.flush();
                    }
                }
                if (!done.await(5, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("items did not finish");
                }
                if (i >= 0) {
                    samples[i] = t[1] - t[0];
                }
            }
            engine.shutdown(Duration.ofSeconds(2));
        }
        Arrays.sort(samples);
        return new Latency(kind, path, reps, pct(samples, 50) / 1e3, pct(samples, 99) / 1e3, samples[reps - 1] / 1e3);
    }

    private static long t0(long[] t) {
        synchronized (t) {
            return t[0];
        }
    }

    private static void block(Kind kind, ReentrantLock lock, InputStream in) throws Exception {
        switch (kind) {
            case SLEEP -> Thread.sleep(BLOCK_NANOS / 1_000_000);
            case LOCK -> {
                lock.lock();
                lock.unlock();
            }
            case SOCKET -> {
                if (in.read() < 0) {
                    throw new IllegalStateException("socket closed");
                }
            }
        }
    }

    static double pct(long[] sorted, int p) {
        int idx = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, idx))];
    }

    // ---- (b) idle CPU --------------------------------------------------------------------------

    static Idle idle(double seconds) throws Exception {
        long nanos = (long) (seconds * 1e9);
        settle();
        double base = cpuOver(nanos);
        int threads;
        double withEngine;
        try (Workqueues engine = Workqueues.builder().name("cmq-idle").build()) {
            // bring up the pools and a worker or two, then leave the engine alone
            Workqueue bound = engine.alloc("idle-bound", 0);
            Workqueue unbound = engine.alloc("idle-unbound", 0, WqFlag.UNBOUND);
            CountDownLatch ran = new CountDownLatch(2);
            bound.queue(new Work(ran::countDown));
            unbound.queue(new Work(ran::countDown));
            ran.await(5, TimeUnit.SECONDS);
            settle();
            threads = engine.workerThreads();
            withEngine = cpuOver(nanos);
            engine.shutdown(Duration.ofSeconds(2));
        }
        return new Idle(seconds, base, withEngine, threads);
    }

    private static void settle() throws InterruptedException {
        System.gc();
        Thread.sleep(300);
    }

    private static double cpuOver(long nanos) throws InterruptedException {
        long c0 = ProcessCpu.nanos();
        Thread.sleep(nanos / 1_000_000, (int) (nanos % 1_000_000));
        return (ProcessCpu.nanos() - c0) / 1e6;
    }

    // ---- (c) idle queues -----------------------------------------------------------------------

    static Queues queues(int n) throws Exception {
        try (Workqueues engine = Workqueues.builder().name("cmq-queues").build()) {
            long heap0 = heapUsed();
            int threads0 = THREADS.getThreadCount();
            List<Workqueue> qs = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                qs.add(i % 2 == 0 ? engine.alloc("idle-" + i, 0) : engine.alloc("idle-" + i, 0, WqFlag.UNBOUND));
            }
            long heap1 = heapUsed();
            int threads1 = THREADS.getThreadCount();
            int reclaim = Math.max(1, n / 10);
            for (int i = 0; i < reclaim; i++) {
                qs.add(engine.alloc("reclaim-" + i, 0, WqFlag.MEM_RECLAIM));
            }
            Thread.sleep(100);
            int threads2 = THREADS.getThreadCount();
            if (qs.size() != n + reclaim) {
                throw new AssertionError();
            }
            engine.shutdown(Duration.ofSeconds(5));
            return new Queues(n, threads0, threads1, heap0, heap1, reclaim, threads2 - threads1);
        }
    }

    /** Heap per idle queue, bound and unbound, {@code n} of each, on an engine of {@code cpus} CPUs. */
    static QueueHeap queueHeap(int cpus, int n) throws Exception {
        double[] perQueue = new double[2];
        for (int k = 0; k < 2; k++) {
            try (Workqueues engine = Workqueues.builder().cpus(cpus).name("cmq-heap").build()) {
                long heap0 = heapUsed();
                List<Workqueue> qs = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    qs.add(k == 0 ? engine.alloc("heap-" + i, 0) : engine.alloc("heap-" + i, 0, WqFlag.UNBOUND));
                }
                perQueue[k] = (double) (heapUsed() - heap0) / qs.size();
                engine.shutdown(Duration.ofSeconds(5));
            }
        }
        return new QueueHeap(cpus, n, perQueue[0], perQueue[1]);
    }

    // ---- (d) queues that ran items, per model ----------------------------------------------------

    /**
     * Makes {@code n} queues of {@code model}, queues one no-op item per CPU on each (for the legacy
     * multi-threaded model, one per thread it would keep), waits until all have run and the threads
     * have settled, and counts the live threads that were not alive before the queues were made (so
     * that a thread of an earlier model still exiting does not count), and the heap added.
     */
    static UsedQueues usedQueues(String model, int n) throws Exception {
        int cpus = Runtime.getRuntime().availableProcessors();
        List<Integer> ids = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            ids.add(i);
        }
        settle();
        long heap0 = heapUsed();
        Set<Long> before = new HashSet<>();
        for (long id : THREADS.getAllThreadIds()) {
            before.add(id);
        }
        try (PerfWqBackend backend = PerfWqBackend.create(model, cpus, ids)) {
            CountDownLatch ran = new CountDownLatch(n * cpus);
            for (int id : ids) {
                for (int k = 0; k < cpus; k++) {
                    backend.start(id, new Runnable() { // a distinct item each (a work item is queued once at a time)
                        @Override
                        public void run() {
                            ran.countDown();
                        }
                    });
                }
            }
            if (!ran.await(60, TimeUnit.SECONDS)) {
                throw new IllegalStateException(model + ": " + ran.getCount() + " of " + n * cpus + " items did not run in 60 s");
            }
            Thread.sleep(200); // let finished workers reach their idle state
            long heap1 = heapUsed();
            int added = 0;
            for (long id : THREADS.getAllThreadIds()) { // thread ids are never reused
                if (!before.contains(id)) {
                    added++;
                }
            }
            return new UsedQueues(model, n, cpus, added, heap1 - heap0);
        }
    }

    // ---- (e) heap per pending item --------------------------------------------------------------

    static final List<String> PENDING_MODELS = List.of("cmwq-work", "cmwq-executor", "tpe-fixed");

    /**
     * Blocks a queue of {@code model} with one running item, queues {@code n} distinct no-op items
     * behind it, and measures the heap they add; then lets them all run. {@code cmwq-work}: a
     * {@code new Work(name, fn)} each, on an ordered queue, sharing its name and function;
     * {@code cmwq-executor}: a distinct {@code Runnable} each, submitted to the executor view of an
     * ordered queue; {@code tpe-fixed}: the same, to a fixed {@code ThreadPoolExecutor} of one thread.
     */
    static PendingHeap pendingHeap(String model, int n) throws Exception {
        CountDownLatch blockerStarted = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch ran = new CountDownLatch(n);
        Runnable blocker = () -> {
            blockerStarted.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        Runnable noop = ran::countDown;
        Workqueues engine = model.startsWith("cmwq") ? Workqueues.builder().name("cmq-pending").build() : null;
        ExecutorService executor = switch (model) {
            case "cmwq-work" -> null;
            case "cmwq-executor" -> engine.allocOrdered("pending").asExecutor();
            case "tpe-fixed" -> Executors.newFixedThreadPool(1);
            default -> throw new IllegalArgumentException("pending-heap model '" + model + "' unknown; allowed: " + PENDING_MODELS);
        };
        Workqueue wq = executor == null ? engine.allocOrdered("pending") : null;
        try {
            if (wq != null) {
                wq.queue(new Work("blocker", blocker));
            } else {
                executor.execute(blocker);
            }
            if (!blockerStarted.await(30, TimeUnit.SECONDS)) {
                throw new IllegalStateException(model + ": the blocking item did not start in 30 s");
            }
            long heap0 = heapUsed();
            for (int i = 0; i < n; i++) {
                if (wq != null) {
                    wq.queue(new Work("pending", noop));
                } else {
                    executor.execute(new Runnable() { // distinct, as a real backlog's tasks are
                        @Override
                        public void run() {
                            ran.countDown();
                        }
                    });
                }
            }
            long heap1 = heapUsed();
            if (ran.getCount() != n) {
                throw new IllegalStateException(model + ": items ran while the queue was blocked");
            }
            release.countDown();
            if (!ran.await(60, TimeUnit.SECONDS)) {
                throw new IllegalStateException(model + ": " + ran.getCount() + " of " + n + " pending items did not run in 60 s");
            }
            return new PendingHeap(model, n, heap1 - heap0);
        } finally {
            release.countDown();
            if (executor != null) {
                executor.shutdown();
            }
            if (engine != null) {
                engine.shutdown(Duration.ofSeconds(5));
            }
        }
    }

    private static long heapUsed() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);
        }
        return MEMORY.getHeapMemoryUsage().getUsed();
    }

    public static String table(Report r) {
        StringBuilder sb = new StringBuilder();
        sb.append("Blocking to next item started (1-CPU engine, item blocks 20 ms; monitor at its default 1 ms)\n\n");
        sb.append("| blocking | detection | n | p50 us | p99 us | max us |\n|---|---|---:|---:|---:|---:|\n");
        for (Latency l : r.latencies()) {
            sb.append(String.format(Locale.ROOT, "| %s | %s | %d | %.0f | %.0f | %.0f |%n", l.kind().name().toLowerCase(Locale.ROOT),
                    l.path() == Path.HOOK ? "explicit hook" : "sampled monitor", l.n(), l.p50Us(), l.p99Us(), l.maxUs()));
        }
        Idle i = r.idle();
        sb.append(String.format(Locale.ROOT, "%n| idle CPU over %.1f s | CPU ms | %% of one core |%n|---|---:|---:|%n", i.seconds()));
        sb.append(String.format(Locale.ROOT, "| JVM without an engine | %.1f | %.3f |%n", i.baselineCpuMs(),
                i.baselineCpuMs() / (i.seconds() * 1000) * 100));
        sb.append(String.format(Locale.ROOT, "| JVM with an idle engine (%d worker threads) | %.1f | %.3f |%n", i.engineThreads(),
                i.engineCpuMs(), i.engineCpuMs() / (i.seconds() * 1000) * 100));
        Queues q = r.queues();
        sb.append(String.format(Locale.ROOT, "%n| idle workqueues | value |%n|---|---:|%n"));
        sb.append(String.format(Locale.ROOT, "| queues (half bound, half unbound) | %d |%n", q.queues()));
        sb.append(String.format(Locale.ROOT, "| threads before -> after | %d -> %d |%n", q.threadsBefore(), q.threadsAfter()));
        sb.append(String.format(Locale.ROOT, "| threads per queue | %.3f |%n", q.threadsPerQueue()));
        sb.append(String.format(Locale.ROOT, "| heap per queue (bytes, after GC) | %.0f |%n", q.bytesPerQueue()));
        sb.append(String.format(Locale.ROOT, "| threads added by %d MEM_RECLAIM queues (rescuers) | %d |%n", q.reclaimQueues(),
                q.reclaimThreadsAdded()));
        if (!r.heapByCpus().isEmpty()) {
            sb.append(String.format(Locale.ROOT, "%n| engine CPUs | heap per idle bound queue (bytes) | per idle unbound queue (bytes) |%n|---:|---:|---:|%n"));
            for (QueueHeap h : r.heapByCpus()) {
                sb.append(String.format(Locale.ROOT, "| %d | %.0f | %.0f |%n", h.engineCpus(), h.boundBytesPerQueue(),
                        h.unboundBytesPerQueue()));
            }
        }
        if (!r.used().isEmpty()) {
            UsedQueues u0 = r.used().get(0);
            sb.append(String.format(Locale.ROOT, "%n%d queues that each ran %d no-op items, now idle (the perf-wq backends)%n%n",
                    u0.queues(), u0.itemsPerQueue()));
            sb.append("| model | threads added | threads per queue | heap per queue (bytes, after GC) |\n|---|---:|---:|---:|\n");
            for (UsedQueues u : r.used()) {
                sb.append(String.format(Locale.ROOT, "| %s | %d | %.3f | %.0f |%n", u.model(), u.threadsAdded(), u.threadsPerQueue(),
                        u.bytesPerQueue()));
            }
        }
        if (!r.pending().isEmpty()) {
            sb.append(String.format(Locale.ROOT, "%n%d pending items behind a blocked queue%n%n", r.pending().get(0).items()));
            sb.append("| model | heap per pending item (bytes, after GC) |\n|---|---:|\n");
            for (PendingHeap h : r.pending()) {
                sb.append(String.format(Locale.ROOT, "| %s | %.1f |%n", h.model(), h.bytesPerItem()));
            }
        }
        return sb.toString();
    }
}
