package dev.cmwq.workqueue.linux;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;

/** What /proc says about a thread, and a fresh platform thread to pin and renice. */
final class Proc {
    private Proc() {
    }

    /** {@code Cpus_allowed_list:} of /proc/self/task/<tid>/status, e.g. {@code 0-1}. */
    static String cpusAllowedList(long tid) {
        for (String line : lines(Path.of("/proc/self/task/" + tid + "/status"))) {
            if (line.startsWith("Cpus_allowed_list:")) {
                return line.substring("Cpus_allowed_list:".length()).strip();
            }
        }
        throw new AssertionError("no Cpus_allowed_list in /proc/self/task/" + tid + "/status");
    }

    /**
     * Field 19 (nice) of /proc/self/task/<tid>/stat. The comm field (2) is in parentheses and may
     * hold spaces and ')', so the fields are counted from after the last ')': field 3 comes first.
     */
    static int nice(long tid) {
        String stat = read(Path.of("/proc/self/task/" + tid + "/stat"));
        String[] fields = stat.substring(stat.lastIndexOf(')') + 1).strip().split(" +");
        return Integer.parseInt(fields[19 - 3]);
    }

    /** The tid in the target of /proc/thread-self ({@code <pid>/task/<tid>}) for the calling thread. */
    static long threadSelfTid() {
        try {
            Path target = Files.readSymbolicLink(Path.of("/proc/thread-self"));
            return Long.parseLong(target.getFileName().toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Runs {@code body} on a new platform thread, so pinning and nice never reach the caller. */
    static <T> T callOnFreshThread(Callable<T> body) throws Exception {
        AtomicReference<T> result = new AtomicReference<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = Thread.ofPlatform().name("placement-test").unstarted(() -> {
            try {
                result.set(body.call());
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        t.start();
        t.join(60_000);
        if (t.isAlive()) {
            throw new AssertionError("test thread still running after 60 s");
        }
        Throwable e = failure.get();
        if (e instanceof Exception ex) {
            throw ex;
        }
        if (e instanceof Error err) {
            throw err;
        }
        return result.get();
    }

    static void runOnFreshThread(ThrowingRunnable body) throws Exception {
        callOnFreshThread(() -> {
            body.run();
            return null;
        });
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    private static List<String> lines(Path p) {
        try {
            return Files.readAllLines(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
