package dev.cmwq.workqueue.bench;

import dev.cmwq.workqueue.bench.PerfWqWorkloads.Burn;
import dev.cmwq.workqueue.bench.PerfWqWorkloads.Load;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The seed's perf-wq benchmark, ported: the six perf-wq workloads run on each backend beside a
 * CPU-bound foreground job (SHA-256 over a fixed number of MB, the 2010 run's mencoder), and the
 * foreground's time is compared with its time alone. Also reported per run: work items completed,
 * thread counts (peak, and the average of a 50 ms sampler), process CPU time.
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp workqueue-benchmarks/target/benchmarks.jar \
 *     dev.cmwq.workqueue.bench.PerfWqBench [workloads] [seconds] [backends] [burn] [fgSeconds] [reps]
 * </pre>
 * workloads: {@code 0-5} or {@code 0,2,5}; seconds: minimum load duration, 0 (default) for "as long
 * as the foreground job"; backends: comma list of {@link PerfWqBackend#NAMES} (default the five of
 * {@link PerfWqBackend#DEFAULTS}); burn: {@code L} or {@code S} (default S); fgSeconds: the
 * foreground's target time alone (default 3); reps: runs per workload and backend (default 1). A
 * {@code -} keeps an argument's default.
 */
public final class PerfWqBench {

    public record Config(List<Integer> workloads, int seconds, List<String> backends, Burn burn,
                         double fgSeconds, int reps) {
        public static Config parse(String... args) {
            List<Integer> wls = List.of(0, 1, 2, 3, 4, 5);
            int seconds = 0;
            List<String> backends = PerfWqBackend.DEFAULTS;
            Burn burn = Burn.S;
            double fg = 3;
            int reps = 1;
            if (has(args, 0)) {
                wls = parseWorkloads(args[0]);
            }
            if (has(args, 1)) {
                seconds = Integer.parseInt(args[1]);
            }
            if (has(args, 2)) {
                backends = Arrays.stream(args[2].split(",")).map(String::trim).toList();
                for (String b : backends) {
                    if (!PerfWqBackend.NAMES.contains(b)) {
                        throw new IllegalArgumentException("backend '" + b + "' unknown; allowed " + PerfWqBackend.NAMES);
                    }
                }
            }
            if (has(args, 3)) {
                burn = Burn.parse(args[3]);
            }
            if (has(args, 4)) {
                fg = Double.parseDouble(args[4]);
            }
            if (has(args, 5)) {
                reps = Integer.parseInt(args[5]);
            }
            return new Config(wls, seconds, backends, burn, fg, reps);
        }

        private static boolean has(String[] args, int i) {
            return args.length > i && !args[i].isBlank() && !args[i].equals("-");
        }

        static List<Integer> parseWorkloads(String s) {
            List<Integer> out = new ArrayList<>();
            for (String part : s.split(",")) {
                String p = part.trim();
                int dash = p.indexOf('-');
                if (dash > 0) {
                    for (int i = Integer.parseInt(p.substring(0, dash)); i <= Integer.parseInt(p.substring(dash + 1)); i++) {
                        out.add(i);
                    }
                } else {
                    out.add(Integer.parseInt(p));
                }
            }
            for (int w : out) {
                PerfWqWorkloads.workload(w); // validates
            }
            return out;
        }
    }

    /** One run: a workload on a backend beside the foreground job. */
    public record Run(String backend, int workload, int rep, double fgSeconds, double fgCpuSeconds, double loadSeconds,
                      long items, int baseThreads, int peakThreads, double avgThreads, double cpuSeconds) {
    }

    /** The runs of one backend and workload, aggregated. */
    public record Row(String backend, int workload, int runs, double fgSeconds, double fgStddev, double ratio,
                      double items, double itemsPerSecond, int peakThreads, double avgThreads, double backendThreads,
                      double cpuSeconds, double loadCpuSeconds) {
    }

    public record Report(Config config, int cpus, long fgMegabytes, double aloneSeconds, double aloneStddev,
                         List<Run> runs, List<Row> rows) {
    }

    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    private PerfWqBench() {
    }

    public static void main(String[] args) throws Exception {
        Config c = Config.parse(args);
        Report r = run(c, System.out);
        System.out.println();
        System.out.println(table(r));
        System.exit(0);
    }

    public static Report run(Config c, PrintStream out) throws Exception {
        int cpus = Runtime.getRuntime().availableProcessors();
        out.printf(Locale.ROOT, "perf-wq: %d CPUs, workloads %s, backends %s, burn/%s, load %s, %d rep(s)%n", cpus,
                c.workloads(), c.backends(), c.burn(), c.seconds() == 0 ? "as long as the foreground" : ">= " + c.seconds() + " s",
                c.reps());
        long mb = calibrate(c.fgSeconds());
        foreground(mb); // discarded, as the seed discarded its first run
        double[] alone = new double[Math.max(2, c.reps())];
        for (int i = 0; i < alone.length; i++) {
            alone[i] = foreground(mb)[0];
        }
        double aloneMean = mean(alone);
        double aloneSd = stddev(alone);
        out.printf(Locale.ROOT, "foreground: SHA-256 over %d MB, alone %.3f s (sd %.3f, %d runs)%n", mb, aloneMean, aloneSd,
                alone.length);
        int total = c.reps() * c.workloads().size() * c.backends().size();
        int n = 0;
        List<Run> runs = new ArrayList<>();
        for (int rep = 1; rep <= c.reps(); rep++) {
            for (int wl : c.workloads()) {
                for (String b : c.backends()) {
                    Run r = runOne(b, wl, rep, c, cpus, mb);
                    runs.add(r);
                    n++;
                    out.printf(Locale.ROOT,
                            "[%d/%d] wl%d %-9s rep %d: fg %.3f s (x%.3f), items %d in %.2f s, threads base %d peak %d avg %.1f, CPU %.2f s%n",
                            n, total, wl, b, rep, r.fgSeconds(), r.fgSeconds() / aloneMean, r.items(), r.loadSeconds(),
                            r.baseThreads(), r.peakThreads(), r.avgThreads(), r.cpuSeconds());
                }
            }
        }
        List<Row> rows = new ArrayList<>();
        for (int wl : c.workloads()) {
            for (String b : c.backends()) {
                List<Run> rs = runs.stream().filter(r -> r.backend().equals(b) && r.workload() == wl).toList();
                double[] fg = rs.stream().mapToDouble(Run::fgSeconds).toArray();
                double fgMean = mean(fg);
                double items = rs.stream().mapToLong(Run::items).average().orElse(0);
                double ips = rs.stream().mapToDouble(r -> r.items() / r.loadSeconds()).average().orElse(0);
                int peak = rs.stream().mapToInt(Run::peakThreads).max().orElse(0);
                double avg = rs.stream().mapToDouble(Run::avgThreads).average().orElse(0);
                double own = rs.stream().mapToDouble(r -> r.avgThreads() - r.baseThreads()).average().orElse(0);
                double cpu = rs.stream().mapToDouble(Run::cpuSeconds).average().orElse(0);
                double loadCpu = rs.stream().mapToDouble(r -> r.cpuSeconds() - r.fgCpuSeconds()).average().orElse(0);
                rows.add(new Row(b, wl, rs.size(), fgMean, stddev(fg), fgMean / aloneMean, items, ips, peak, avg, own, cpu,
                        loadCpu));
            }
        }
        return new Report(c, cpus, mb, aloneMean, aloneSd, runs, rows);
    }

    static Run runOne(String backend, int wl, int rep, Config c, int cpus, long mb) throws Exception {
        System.gc();
        Thread.sleep(100);
        int base = THREADS.getThreadCount();
        THREADS.resetPeakThreadCount();
        Sampler sampler = new Sampler();
        sampler.start();
        PerfWqBackend be = PerfWqBackend.create(backend, cpus, PerfWqWorkloads.queueIds(wl));
        Load load = new Load(be, wl, 0, c.burn());
        double[] fg;
        long cpu0;
        long cpu1;
        long t0;
        long t1;
        long items;
        int peak;
        double avg;
        try {
            cpu0 = ProcessCpu.nanos();
            t0 = System.nanoTime();
            load.start();
            fg = foreground(mb);
            long minEnd = t0 + c.seconds() * 1_000_000_000L;
            while (System.nanoTime() - minEnd < 0) {
                Thread.sleep(10);
            }
            load.stop();
            t1 = System.nanoTime();
            items = load.items();
            cpu1 = ProcessCpu.nanos();
            peak = THREADS.getPeakThreadCount();
            avg = sampler.finish();
        } finally {
            load.stop();
            sampler.finish();
            be.close();
        }
        return new Run(backend, wl, rep, fg[0], fg[1], (t1 - t0) / 1e9, items, base, peak, avg, (cpu1 - cpu0) / 1e9);
    }

    /** Samples {@link ThreadMXBean#getThreadCount()} every 50 ms. */
    static final class Sampler extends Thread {
        private volatile boolean done;
        private long sum;
        private long n;

        Sampler() {
            super("perfwq-sampler");
            setDaemon(true);
        }

        @Override
        public void run() {
            while (!done) {
                int count = THREADS.getThreadCount();
                synchronized (this) {
                    sum += count;
                    n++;
                }
                try {
                    Thread.sleep(50);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }

        synchronized double average() {
            return n == 0 ? THREADS.getThreadCount() : (double) sum / n;
        }

        double finish() throws InterruptedException {
            done = true;
            interrupt();
            join();
            return average();
        }
    }

    private static final byte[] BLOCK = new byte[1 << 20];

    static {
        new java.util.Random(42).nextBytes(BLOCK);
    }

    /** The foreground job: SHA-256 over {@code mb} MB; returns {wall seconds, CPU seconds of this thread}. */
    static double[] foreground(long mb) {
        MessageDigest md = sha256();
        long cpu0 = THREADS.getCurrentThreadCpuTime();
        long t0 = System.nanoTime();
        for (long i = 0; i < mb; i++) {
            md.update(BLOCK);
        }
        byte[] d = md.digest();
        long t1 = System.nanoTime();
        long cpu1 = THREADS.getCurrentThreadCpuTime();
        if (d.length != 32) {
            throw new AssertionError();
        }
        return new double[] {(t1 - t0) / 1e9, (cpu1 - cpu0) / 1e9};
    }

    /** MB of SHA-256 that take about {@code seconds} alone (after a JIT warm-up). */
    static long calibrate(double seconds) {
        long w0 = System.nanoTime();
        while (System.nanoTime() - w0 < 500_000_000L) {
            foreground(16);
        }
        long mb = 16;
        double t;
        while ((t = foreground(mb)[0]) < 0.25) {
            mb *= 2;
        }
        return Math.max(1, Math.round(mb * seconds / t));
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static double mean(double[] xs) {
        return Arrays.stream(xs).average().orElse(0);
    }

    static double stddev(double[] xs) {
        if (xs.length < 2) {
            return 0;
        }
        double m = mean(xs);
        double s = 0;
        for (double x : xs) {
            s += (x - m) * (x - m);
        }
        return Math.sqrt(s / (xs.length - 1));
    }

    public static String table(Report r) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT,
                "perf-wq beside SHA-256 over %d MB (alone %.3f s, sd %.3f), %d CPUs, burn/%s, %d rep(s)%n%n", r.fgMegabytes(),
                r.aloneSeconds(), r.aloneStddev(), r.cpus(), r.config().burn(), r.config().reps()));
        sb.append("| wl | backend | foreground s (sd) | vs alone | items | items/s | peak threads | avg threads | "
                + "backend threads (avg) | CPU s | CPU s excl. foreground |\n");
        sb.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Row w : r.rows()) {
            sb.append(String.format(Locale.ROOT, "| %d | %s | %.3f (%.3f) | %.3f | %.0f | %.0f | %d | %.1f | %.1f | %.2f | %.2f |%n",
                    w.workload(), w.backend(), w.fgSeconds(), w.fgStddev(), w.ratio(), w.items(), w.itemsPerSecond(),
                    w.peakThreads(), w.avgThreads(), w.backendThreads(), w.cpuSeconds(), w.loadCpuSeconds()));
        }
        return sb.toString();
    }
}
