// CodeCapsule's function-call harness for Java. The judge compiles it once per process (it is the same for every
// capsule) and puts it first on the class path of each run; the signature arrives on stdin after the header line (see
// `main`). The protocol (stdin, records, markers) is described in crates/core/src/function/protocol.rs.
//
// The harness reads its whole input before any class of the program is loaded (so before its static initialisers
// run), and writes records through the process's own stdout descriptor, which it opened first. The nonce is held only
// in locals and in the instance of the record writer, which no static field reaches.
import java.io.*;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.lang.reflect.*;
import java.nio.charset.StandardCharsets;
import java.util.*;

public final class CodeCapsuleHarness {
    // The signature, read from stdin after the header: the function's name, the classes to look in, the parameters'
    // contract types, each parameter's Java spellings, the return type's, and the declaration the capsule expects.
    private static String NAME;
    private static String[] CLASSES;
    private static String[] PARAMS;
    private static String[][] PARAM_JAVA;
    private static String[] RETURN_JAVA;
    private static String EXPECTED;

    private CodeCapsuleHarness() {}

    /** Writes records and markers; one lock, so the watchdog and the calls never interleave. */
    private static final class Channel {
        private final String nonce;
        private final OutputStream out = new FileOutputStream(FileDescriptor.out);
        private final OutputStream err = new FileOutputStream(FileDescriptor.err);
        private volatile String current = "load";

        Channel(String nonce) { this.nonce = nonce; }

        synchronized void record(String kind, String payload) {
            try {
                System.out.flush();
                System.err.flush();
                out.write(("\u001e" + nonce + " " + current + " " + kind + " 0 " + payload + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
                err.write(("\u001e" + nonce + " " + current + "\n").getBytes(StandardCharsets.UTF_8));
                err.flush();
            } catch (IOException ignored) {
                Runtime.getRuntime().halt(0);
            }
        }
    }

    public static void main(String[] ignored) throws Exception {
        String input = new String(System.in.readAllBytes(), StandardCharsets.UTF_8);
        String[] lines = input.split("\n");
        String[] header = lines[0].split(" ");
        Channel channel = new Channel(header[0]);
        long limitNanos = Long.parseLong(header[1]) * 1_000_000L;
        NAME = lines[1];
        CLASSES = words(lines[2], " ");
        PARAMS = words(lines[3], " ");
        String[] spelled = words(lines[4], "\t");
        PARAM_JAVA = new String[spelled.length][];
        for (int at = 0; at < spelled.length; at++) PARAM_JAVA[at] = spelled[at].split("\\|");
        RETURN_JAVA = lines[5].split("\\|");
        EXPECTED = lines[6];
        List<String[]> calls = new ArrayList<>();
        for (int at = 7; at < lines.length; at++) {
            if (!lines[at].isEmpty()) calls.add(lines[at].split(" ", 2));
        }
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        Thread caller = Thread.currentThread();
        long[] callStart = {threads.getCurrentThreadCpuTime()};
        boolean[] running = {true};
        Thread watchdog = new Thread(new Watchdog(channel, threads, caller.getId(), callStart, running, limitNanos));
        watchdog.setDaemon(true);
        watchdog.start();

        Method function = find(channel);
        channel.record("ready", "null");
        for (String[] call : calls) {
            channel.current = call[0];
            Object[] arguments;
            try {
                arguments = ((List<?>) new Reader(call[1]).list(PARAMS)).toArray();
            } catch (RuntimeException bad) {
                channel.record("raised", text("the harness could not read the arguments: " + bad));
                continue;
            }
            Object value;
            synchronized (running) {
                callStart[0] = threads.getCurrentThreadCpuTime();
                running[0] = true;
            }
            try {
                value = function.invoke(null, arguments);
            } catch (InvocationTargetException thrown) {
                synchronized (running) { running[0] = false; }
                Throwable cause = thrown.getCause();
                if (cause instanceof OutOfMemoryError) {
                    channel.record("out_of_memory", "null");
                    Runtime.getRuntime().halt(0);
                }
                channel.record("raised", describe(cause));
                continue;
            }
            synchronized (running) { running[0] = false; }
            String encoded;
            try {
                StringBuilder builder = new StringBuilder();
                encode(value, builder, 0);
                encoded = builder.toString();
            } catch (Unsupported unsupported) {
                channel.record("unsupported", text(unsupported.getMessage()));
                continue;
            } catch (RuntimeException | StackOverflowError failed) {
                channel.record("unsupported", text("a value that cannot be read"));
                continue;
            }
            channel.record("returned", encoded);
        }
        System.out.flush();
        System.err.flush();
        Runtime.getRuntime().halt(0);
    }

    private static String[] words(String line, String separator) {
        return line.isEmpty() ? new String[0] : line.split(separator);
    }

    /**
     * Ends the run when the call under way has used its CPU time, checked every 5 ms. A class, not a lambda: a JVM's
     * first lambda costs ~20 ms of bootstrap, in every run.
     */
    private static final class Watchdog implements Runnable {
        private final Channel channel;
        private final ThreadMXBean threads;
        private final long caller;
        private final long[] callStart;
        private final boolean[] running;
        private final long limitNanos;

        Watchdog(Channel channel, ThreadMXBean threads, long caller, long[] callStart, boolean[] running, long limitNanos) {
            this.channel = channel;
            this.threads = threads;
            this.caller = caller;
            this.callStart = callStart;
            this.running = running;
            this.limitNanos = limitNanos;
        }

        @Override
        public void run() {
            while (true) {
                try { Thread.sleep(5); } catch (InterruptedException stop) { return; }
                long used;
                synchronized (running) {
                    if (!running[0]) continue;
                    used = threads.getThreadCpuTime(caller) - callStart[0];
                }
                if (used > limitNanos) {
                    channel.record("timed_out", "null");
                    Runtime.getRuntime().halt(0);
                }
            }
        }
    }

    /** The program's public static method of the entry's name, checked against the signature. */
    private static Method find(Channel channel) {
        StringBuilder found = new StringBuilder();
        for (String name : CLASSES) {
            Class<?> type;
            try {
                type = Class.forName(name, true, CodeCapsuleHarness.class.getClassLoader());
            } catch (ClassNotFoundException missing) {
                continue;
            } catch (ExceptionInInitializerError failed) {
                channel.record("raised", describe(failed.getCause()));
                Runtime.getRuntime().halt(0);
                return null;
            }
            if (!Modifier.isPublic(type.getModifiers())) continue;
            for (Method method : type.getDeclaredMethods()) {
                if (!method.getName().equals(NAME)) continue;
                String declared = declared(method);
                if (!Modifier.isPublic(method.getModifiers()) || !Modifier.isStatic(method.getModifiers())) {
                    found.append(" `").append(name).append('.').append(NAME).append("` is not public static;");
                    continue;
                }
                if (matches(method)) {
                    method.setAccessible(true);
                    return method;
                }
                found.append(" ").append(name).append(" declares `").append(declared).append("`;");
            }
        }
        if (found.length() == 0) {
            channel.record("missing_function", text("no public class of the program declares `public static " + EXPECTED + "`"));
        } else {
            channel.record("wrong_signature", text("the capsule calls `public static " + EXPECTED + "`, but" + found));
        }
        Runtime.getRuntime().halt(0);
        return null;
    }

    private static String declared(Method method) {
        StringBuilder text = new StringBuilder(short_(method.getGenericReturnType().getTypeName())).append(' ').append(NAME).append('(');
        Type[] params = method.getGenericParameterTypes();
        for (int at = 0; at < params.length; at++) {
            text.append(at == 0 ? "" : ", ").append(short_(params[at].getTypeName()));
        }
        return text.append(')').toString();
    }

    private static String short_(String name) {
        return name.replace("java.util.", "").replace("java.lang.", "");
    }

    private static boolean matches(Method method) {
        Type[] params = method.getGenericParameterTypes();
        if (params.length != PARAM_JAVA.length) return false;
        for (int at = 0; at < params.length; at++) {
            if (!Arrays.asList(PARAM_JAVA[at]).contains(short_(params[at].getTypeName()))) return false;
        }
        return Arrays.asList(RETURN_JAVA).contains(short_(method.getGenericReturnType().getTypeName()));
    }

    private static String describe(Throwable error) {
        StackTraceElement[] frames = error.getStackTrace();
        int own = frames.length;
        for (int at = 0; at < frames.length; at++) {
            if (frames[at].getClassName().startsWith("jdk.internal.reflect") || frames[at].getClassName().equals("CodeCapsuleHarness")) {
                own = at;
                break;
            }
        }
        error.setStackTrace(Arrays.copyOf(frames, own));
        error.printStackTrace();
        String message = error.getMessage();
        return text(error.getClass().getName() + (message == null ? "" : ": " + message));
    }

    private static final class Unsupported extends RuntimeException {
        Unsupported(String what) { super(what); }
    }

    private static void encode(Object value, StringBuilder out, int depth) {
        if (depth > 64) throw new Unsupported("a value nested deeper than 64 levels");
        if (value == null) {
            out.append("null");
        } else if (value instanceof Boolean) {
            out.append(((Boolean) value).booleanValue() ? "true" : "false");
        } else if (value instanceof Long || value instanceof Integer || value instanceof Short || value instanceof Byte) {
            out.append(((Number) value).longValue());
        } else if (value instanceof Double || value instanceof Float) {
            double number = ((Number) value).doubleValue();
            out.append(Double.isFinite(number) ? Double.toString(number) : text(Double.toString(number)));
        } else if (value instanceof String) {
            out.append(text((String) value));
        } else if (value instanceof List) {
            out.append('[');
            int at = 0;
            for (Object item : (List<?>) value) {
                if (at++ > 0) out.append(',');
                encode(item, out, depth + 1);
            }
            out.append(']');
        } else if (value instanceof Map) {
            out.append('{');
            int at = 0;
            for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
                if (!(entry.getKey() instanceof String)) throw new Unsupported("a Map with a key that is not a String");
                if (at++ > 0) out.append(',');
                out.append(text((String) entry.getKey())).append(':');
                encode(entry.getValue(), out, depth + 1);
            }
            out.append('}');
        } else {
            throw new Unsupported("a " + value.getClass().getName() + ", which is no value of the contract");
        }
    }

    private static String text(String value) {
        StringBuilder out = new StringBuilder("\"");
        for (int at = 0; at < value.length(); at++) {
            char c = value.charAt(at);
            if (c == '"') out.append("\\\"");
            else if (c == '\\') out.append("\\\\");
            else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
            else out.append(c);
        }
        return out.append('"').toString();
    }

    /** Reads the judge's JSON into the Java values of the contract's types (the judge checked them already). */
    private static final class Reader {
        private final String text;
        private int at;

        Reader(String text) { this.text = text; }

        /** A JSON array whose items have the types `types`, one each. */
        Object list(String[] types) {
            expect('[');
            List<Object> values = new ArrayList<>();
            for (int index = 0; index < types.length; index++) {
                if (index > 0) expect(',');
                values.add(value(types[index]));
            }
            expect(']');
            return values;
        }

        Object value(String type) {
            skip();
            if (type.startsWith("optional[")) {
                if (text.startsWith("null", at)) {
                    at += 4;
                    return null;
                }
                return value(type.substring(9, type.length() - 1));
            }
            if (type.startsWith("list[")) {
                String item = type.substring(5, type.length() - 1);
                expect('[');
                List<Object> values = new ArrayList<>();
                skip();
                if (text.charAt(at) == ']') { at++; return values; }
                do { values.add(value(item)); skip(); } while (text.charAt(at++) == ',');
                return values;
            }
            if (type.startsWith("map[")) {
                String item = type.substring(4, type.length() - 1);
                expect('{');
                Map<String, Object> values = new LinkedHashMap<>();
                skip();
                if (text.charAt(at) == '}') { at++; return values; }
                do {
                    skip();
                    String key = string();
                    expect(':');
                    values.put(key, value(item));
                    skip();
                } while (text.charAt(at++) == ',');
                return values;
            }
            switch (type) {
                case "string": return string();
                case "bool":
                    if (text.startsWith("true", at)) { at += 4; return Boolean.TRUE; }
                    at += 5;
                    return Boolean.FALSE;
                case "int": return Long.parseLong(number());
                default: return Double.parseDouble(number());
            }
        }

        private String number() {
            int start = at;
            while (at < text.length() && "+-0123456789.eE".indexOf(text.charAt(at)) >= 0) at++;
            return text.substring(start, at);
        }

        private String string() {
            expect('"');
            StringBuilder out = new StringBuilder();
            while (true) {
                char c = text.charAt(at++);
                if (c == '"') return out.toString();
                if (c != '\\') { out.append(c); continue; }
                char escaped = text.charAt(at++);
                switch (escaped) {
                    case 'n': out.append('\n'); break;
                    case 't': out.append('\t'); break;
                    case 'r': out.append('\r'); break;
                    case 'b': out.append('\b'); break;
                    case 'f': out.append('\f'); break;
                    case 'u': out.append((char) Integer.parseInt(text.substring(at, at + 4), 16)); at += 4; break;
                    default: out.append(escaped);
                }
            }
        }

        private void skip() {
            while (at < text.length() && text.charAt(at) == ' ') at++;
        }

        private void expect(char c) {
            skip();
            if (text.charAt(at) != c) throw new IllegalStateException("expected `" + c + "` at " + at);
            at++;
        }
    }
}
