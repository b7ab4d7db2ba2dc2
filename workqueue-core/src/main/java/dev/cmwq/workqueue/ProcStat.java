package dev.cmwq.workqueue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Reads a thread's scheduler state from Linux procfs: {@code /proc/self/task/<tid>/stat}, third
 * field ({@code R} running or runnable, {@code S} interruptible sleep, {@code D} uninterruptible
 * sleep, ...). Java reports a thread blocked in a socket or file read as RUNNABLE; the kernel's
 * view tells sleeping apart from runnable-but-preempted.
 */
final class ProcStat {
    /** True on Linux with procfs mounted. */
    static final boolean AVAILABLE = Files.isReadable(Path.of("/proc/thread-self/stat"));

    private ProcStat() {
    }

    /**
     * The CPUs the process may run on ({@code Cpus_allowed_list} of {@code /proc/self/status}, the
     * main thread's affinity), or null where procfs is not available.
     */
    static CpuMask processCpusAllowed() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Cpus_allowed_list:")) {
                    return CpuMask.parseList(line.substring("Cpus_allowed_list:".length()).trim());
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or unreadable: unknown
        }
        return null;
    }

    /** The calling thread's Linux tid, or -1 where procfs is not available. */
    static long currentTid() {
        if (!AVAILABLE) {
            return -1;
        }
        try {
            // "/proc/thread-self" -> "<pid>/task/<tid>"
            Path target = Files.readSymbolicLink(Path.of("/proc/thread-self"));
            return Long.parseLong(target.getFileName().toString());
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /**
     * The state letter of thread {@code tid} of this process, or {@code '?'} if it can't be read
     * (the thread exited, or no procfs).
     *
     * @param buf a scratch buffer of at least 512 bytes, owned by the caller's thread
     */
    static char state(long tid, ByteBuffer buf) {
        if (tid <= 0) {
            return '?';
        }
        buf.clear();
        try (FileChannel ch = FileChannel.open(Path.of("/proc/self/task/" + tid + "/stat"), StandardOpenOption.READ)) {
            while (buf.hasRemaining() && ch.read(buf) > 0) {
                // read the line; "comm" may contain spaces and ')' so parse from the last ')'
            }
        } catch (IOException | RuntimeException e) {
            return '?';
        }
        int end = buf.position();
        for (int i = end - 1; i > 0; i--) {
            if (buf.get(i) == ')') {
                return i + 2 < end ? (char) buf.get(i + 2) : '?';
            }
        }
        return '?';
    }
}
