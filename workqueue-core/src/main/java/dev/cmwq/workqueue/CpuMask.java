package dev.cmwq.workqueue;

import java.util.BitSet;
import java.util.Objects;

/**
 * An immutable set of CPU numbers, printed and parsed in the two forms the kernel uses: the list
 * form of {@code cpumask_parselist} ({@code 0-3,5}) and the hex form of {@code cpumask_parse}
 * ({@code f}, {@code ff,ffffffff}: 32-bit groups separated by commas, most significant first).
 */
public final class CpuMask {
    private final BitSet bits;

    private CpuMask(BitSet bits) {
        this.bits = bits;
    }

    /** CPUs {@code 0 .. n-1}. */
    public static CpuMask all(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("a cpumask of all CPUs needs at least one CPU, got " + n);
        }
        BitSet b = new BitSet(n);
        b.set(0, n);
        return new CpuMask(b);
    }

    public static CpuMask of(int... cpus) {
        BitSet b = new BitSet();
        for (int c : cpus) {
            if (c < 0) {
                throw new IllegalArgumentException("CPU numbers are >= 0, got " + c);
            }
            b.set(c);
        }
        return new CpuMask(b);
    }

    /**
     * Parses either kernel form. Text with a {@code -} range, or commas between groups that are
     * not 8 hex digits, is the list form ({@code 0-3,5}, {@code 1,3}); anything else, with or
     * without a {@code 0x} prefix, is hex ({@code 3}, {@code ff,ffffffff}).
     *
     * @throws IllegalArgumentException naming the bad text and the accepted forms
     */
    public static CpuMask parse(String text) {
        Objects.requireNonNull(text, "cpumask");
        String t = text.strip();
        if (t.isEmpty()) {
            throw new IllegalArgumentException("empty cpumask; expected hex like 'f' or a list like '0-3,5'");
        }
        if (t.startsWith("0x") || t.startsWith("0X")) {
            return parseHexForm(t.substring(2));
        }
        if (t.contains("-")) {
            return parseListForm(t);
        }
        if (t.contains(",")) {
            String[] groups = t.split(",", -1);
            boolean hexGroups = groups[0].length() <= 8;
            for (int i = 1; i < groups.length; i++) {
                hexGroups &= groups[i].length() == 8;
            }
            return hexGroups ? parseHexForm(t) : parseListForm(t);
        }
        return parseHexForm(t);
    }

    /** The list form, {@code 0-3,5}. */
    public static CpuMask parseList(String text) {
        return parseListForm(Objects.requireNonNull(text, "cpumask").strip());
    }

    /** The hex form, {@code f} or {@code ff,ffffffff}. */
    public static CpuMask parseHex(String text) {
        return parseHexForm(Objects.requireNonNull(text, "cpumask").strip());
    }

    private static CpuMask parseListForm(String t) {
        BitSet b = new BitSet();
        for (String part : t.split(",", -1)) {
            String p = part.strip();
            if (p.isEmpty()) {
                throw new IllegalArgumentException("bad cpu list '" + t + "': empty element");
            }
            int dash = p.indexOf('-');
            try {
                if (dash < 0) {
                    b.set(nonNegative(Integer.parseInt(p), t));
                } else {
                    int lo = nonNegative(Integer.parseInt(p.substring(0, dash).strip()), t);
                    int hi = nonNegative(Integer.parseInt(p.substring(dash + 1).strip()), t);
                    if (hi < lo) {
                        throw new IllegalArgumentException("bad cpu list '" + t + "': range " + p + " goes backwards");
                    }
                    b.set(lo, hi + 1);
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad cpu list '" + t + "': '" + p + "' is not a CPU number or range like 0-3");
            }
        }
        return new CpuMask(b);
    }

    private static int nonNegative(int v, String t) {
        if (v < 0 || v > 65535) {
            throw new IllegalArgumentException("bad cpu list '" + t + "': CPU " + v + " out of range 0..65535");
        }
        return v;
    }

    private static CpuMask parseHexForm(String t) {
        String[] groups = t.split(",", -1);
        BitSet b = new BitSet();
        int bit = 0;
        for (int g = groups.length - 1; g >= 0; g--) {
            String group = groups[g].strip();
            if (group.isEmpty() || group.length() > 8) {
                throw new IllegalArgumentException("bad hex cpumask '" + t + "': groups are 1 to 8 hex digits separated by commas");
            }
            long v;
            try {
                v = Long.parseLong(group, 16);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad hex cpumask '" + t + "': '" + group + "' is not hex");
            }
            for (int i = 0; i < 32; i++) {
                if ((v & (1L << i)) != 0) {
                    b.set(bit + i);
                }
            }
            bit += 32;
        }
        return new CpuMask(b);
    }

    public boolean contains(int cpu) {
        return cpu >= 0 && bits.get(cpu);
    }

    public boolean isEmpty() {
        return bits.isEmpty();
    }

    public int cardinality() {
        return bits.cardinality();
    }

    /** The CPUs in ascending order. */
    public int[] cpus() {
        return bits.stream().toArray();
    }

    public CpuMask and(CpuMask other) {
        BitSet b = (BitSet) bits.clone();
        b.and(other.bits);
        return new CpuMask(b);
    }

    public CpuMask or(CpuMask other) {
        BitSet b = (BitSet) bits.clone();
        b.or(other.bits);
        return new CpuMask(b);
    }

    public boolean intersects(CpuMask other) {
        return bits.intersects(other.bits);
    }

    /** The lowest CPU, or -1 if empty. */
    public int first() {
        return bits.nextSetBit(0);
    }

    /** The highest CPU, or -1 if empty. */
    public int last() {
        return bits.length() - 1;
    }

    /** True if every CPU of this mask is in {@code other}. */
    public boolean isSubsetOf(CpuMask other) {
        BitSet b = (BitSet) bits.clone();
        b.andNot(other.bits);
        return b.isEmpty();
    }

    /** List form, e.g. {@code 0-3,5}; empty string for an empty mask. */
    public String toList() {
        StringBuilder sb = new StringBuilder();
        int i = bits.nextSetBit(0);
        while (i >= 0) {
            int end = bits.nextClearBit(i) - 1;
            if (!sb.isEmpty()) {
                sb.append(',');
            }
            sb.append(i);
            if (end > i) {
                sb.append('-').append(end);
            }
            i = bits.nextSetBit(end + 1);
        }
        return sb.toString();
    }

    /** Hex form as the kernel prints it ({@code %*pb}), e.g. {@code 3} or {@code ff,ffffffff}. */
    public String toHex() {
        int len = Math.max(1, bits.length());
        int groups = (len + 31) / 32;
        StringBuilder sb = new StringBuilder();
        for (int g = groups - 1; g >= 0; g--) {
            long v = 0;
            for (int i = 0; i < 32; i++) {
                if (bits.get(g * 32 + i)) {
                    v |= 1L << i;
                }
            }
            String h = Long.toHexString(v);
            if (g != groups - 1) {
                sb.append(',').append("0".repeat(8 - h.length()));
            }
            sb.append(h);
        }
        return sb.toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CpuMask m && m.bits.equals(bits);
    }

    @Override
    public int hashCode() {
        return bits.hashCode();
    }

    @Override
    public String toString() {
        return toList();
    }
}
