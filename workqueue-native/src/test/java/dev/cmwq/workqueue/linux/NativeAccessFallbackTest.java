package dev.cmwq.workqueue.linux;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Child JVMs (the same java binary) running {@link PlacementProbe} with and without
 * --enable-native-access. Without it the provider must fall back before it calls any restricted
 * method, so the JVM prints no "WARNING: A restricted method ..." lines.
 *
 * <p>The child's class path is this JVM's {@code java.class.path}: in a Surefire fork that is the
 * real test class path (target/test-classes, target/classes, the dependency jars), not the
 * manifest-only booter jar, which Surefire keeps in {@code surefire.real.class.path}.
 */
class NativeAccessFallbackTest {
    private static final long TIMEOUT_SECONDS = 60;

    record Child(int exitCode, String stdout, String stderr) {
        @Override
        public String toString() {
            return "exit code " + exitCode + "\n--- stdout ---\n" + stdout + "--- stderr ---\n" + stderr;
        }

        List<String> warnings() {
            return stderr.lines().filter(l -> l.startsWith("WARNING:")).toList();
        }
    }

    @Test
    void theClassPathIsTheRealOne() {
        String cp = System.getProperty("java.class.path");
        String testClasses = PlacementProbe.class.getProtectionDomain().getCodeSource().getLocation().getPath();
        assertThat(Arrays.stream(cp.split(File.pathSeparator)).map(p -> Path.of(p).toAbsolutePath()))
                .as("java.class.path = %s", cp)
                .contains(Path.of(testClasses).toAbsolutePath());
    }

    @Test
    void withoutNativeAccessTheFallbackSaysHowToEnableItAndTheJvmDoesNotWarn() throws Exception {
        Child child = run();
        assertThat(child.exitCode()).as("%s", child).isZero();
        assertThat(child.stdout()).as("%s", child).contains("enforced=false");
        assertThat(child.stdout()).as("%s", child).contains("description=native access is not enabled")
                .contains("--enable-native-access=ALL-UNNAMED");
        assertThat(child.stdout()).as("%s", child).contains("currentCpu=-1");
        // The INFO line of ThreadPlacement.load().
        assertThat(child.stdout()).as("%s", child)
                .contains("workqueue: worker placement (cpumask, nice) not enforced: native access is not enabled");
        // the engine keeps and shows the attributes, says they are not enforced, and leaves the threads alone
        assertThat(child.stdout()).as("%s", child).contains("queueEnforced=false")
                .contains("attrs=nice=5 cpus=1 affinity_scope=cache")
                .containsPattern("worker=cpus=(?!1 )\\S+ nice=0");
        assertThat(child.warnings()).as("%s", child).isEmpty();
    }

    @Test
    void withNativeAccessTheChildIsEnforcedAndTheJvmDoesNotWarn() throws Exception {
        Child child = run("--enable-native-access=ALL-UNNAMED");
        assertThat(child.exitCode()).as("%s", child).isZero();
        assertThat(child.stdout()).as("%s", child).contains("enforced=true")
                .contains("description=linux sched_setaffinity/setpriority via FFM")
                .contains("workqueue: worker placement enforced (linux sched_setaffinity/setpriority via FFM");
        assertThat(child.stdout()).as("%s", child).doesNotContain("currentCpu=-1");
        assertThat(child.stdout()).as("%s", child).contains("queueEnforced=true").contains("worker=cpus=1 nice=5");
        assertThat(child.warnings()).as("%s", child).isEmpty();
    }

    @Test
    void theJvmWarnsWhenARestrictedMethodIsCalledWithoutNativeAccess() throws Exception {
        // The control for the two tests above: their check for WARNING lines is not blind.
        Child child = run(RestrictedCaller.class);
        assertThat(child.exitCode()).as("%s", child).isZero();
        assertThat(child.warnings()).as("%s", child).isNotEmpty()
                .anySatisfy(l -> assertThat(l).contains("restricted method"));
    }

    private static Child run(String... jvmOptions) throws IOException, InterruptedException {
        return run(PlacementProbe.class, jvmOptions);
    }

    private static Child run(Class<?> mainClass, String... jvmOptions) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(List.of(jvmOptions));
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(mainClass.getName());

        Path out = Files.createTempFile("placement-probe", ".out");
        Path err = Files.createTempFile("placement-probe", ".err");
        try {
            ProcessBuilder pb = new ProcessBuilder(command)
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile());
            // Options from the environment would change the child (and print "Picked up ...").
            pb.environment().keySet().removeAll(List.of("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS"));
            Process p = pb.start();
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                throw new AssertionError("child JVM did not finish in " + TIMEOUT_SECONDS + " s: " + command
                        + "\n--- stdout ---\n" + Files.readString(out, StandardCharsets.UTF_8)
                        + "--- stderr ---\n" + Files.readString(err, StandardCharsets.UTF_8));
            }
            return new Child(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}
