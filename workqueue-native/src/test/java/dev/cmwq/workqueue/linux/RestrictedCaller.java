package dev.cmwq.workqueue.linux;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;

/**
 * Main class for a child JVM of {@link NativeAccessFallbackTest}: calls a restricted method
 * directly, to show that the test would see the JVM's warning if the provider did so.
 */
public final class RestrictedCaller {
    private RestrictedCaller() {
    }

    public static void main(String[] args) {
        Linker linker = Linker.nativeLinker();
        linker.downcallHandle(linker.defaultLookup().find("getpid").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT));
        System.out.println("linked");
    }
}
