// CodeCapsule's function-call harness for C#, compiled with the program (mcs -main:CodeCapsuleHarness). The judge
// replaces the line `CONSTANTS` below with the function's name and its parameter and return types (the contract's
// spelling and the C# type a method must declare). The protocol (stdin, records, markers) is described in
// crates/core/src/function/protocol.rs.
//
// The harness reads its whole input before any type of the program is initialised, and writes records through
// streams over the process's own descriptors, opened first. The nonce is held only in locals and in the instance of
// the record writer, which no static field reaches.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Reflection;
using System.Text;
using System.Threading;

public static class CodeCapsuleHarness
{
    // CONSTANTS

    sealed class Channel
    {
        readonly string nonce;
        readonly Stream output = Console.OpenStandardOutput();
        readonly Stream error = Console.OpenStandardError();
        public volatile string Current = "load";

        public Channel(string nonce) { this.nonce = nonce; }

        public void Record(string kind, string payload)
        {
            lock (this)
            {
                try { Console.Out.Flush(); Console.Error.Flush(); } catch (Exception) { }
                Write(output, "\u001e" + nonce + " " + Current + " " + kind + " 0 " + payload + "\n");
                Write(error, "\u001e" + nonce + " " + Current + "\n");
            }
        }

        static void Write(Stream stream, string text)
        {
            byte[] bytes = new UTF8Encoding(false).GetBytes(text);
            stream.Write(bytes, 0, bytes.Length);
            stream.Flush();
        }
    }

    static void Leave() { Process.GetCurrentProcess().Kill(); }

    public static void Main()
    {
        string input = new StreamReader(Console.OpenStandardInput(), new UTF8Encoding(false)).ReadToEnd();
        string[] lines = input.Split('\n');
        string[] header = lines[0].Split(' ');
        Channel channel = new Channel(header[0]);
        TimeSpan limit = TimeSpan.FromMilliseconds(long.Parse(header[1], CultureInfo.InvariantCulture));
        Process self = Process.GetCurrentProcess();
        object clock = new object();
        TimeSpan callStart = self.TotalProcessorTime;
        bool running = true;
        Thread watchdog = new Thread(() =>
        {
            while (true)
            {
                Thread.Sleep(5);
                lock (clock)
                {
                    self.Refresh();
                    if (!running || self.TotalProcessorTime - callStart <= limit) continue;
                }
                channel.Record("timed_out", "null");
                Leave();
            }
        });
        watchdog.IsBackground = true;
        watchdog.Start();

        MethodInfo function = Find(channel);
        channel.Record("ready", "null");
        for (int at = 1; at < lines.Length; at++)
        {
            if (lines[at].Length == 0) continue;
            int space = lines[at].IndexOf(' ');
            channel.Current = lines[at].Substring(0, space);
            object[] arguments = new Reader(lines[at].Substring(space + 1)).List(Params);
            object value;
            lock (clock) { self.Refresh(); callStart = self.TotalProcessorTime; running = true; }
            try
            {
                value = function.Invoke(null, arguments);
            }
            catch (TargetInvocationException thrown)
            {
                lock (clock) { running = false; }
                Exception cause = thrown.InnerException ?? thrown;
                if (cause is OutOfMemoryException)
                {
                    channel.Record("out_of_memory", "null");
                    Leave();
                }
                channel.Record("raised", Describe(cause));
                continue;
            }
            lock (clock) { running = false; }
            string encoded;
            try
            {
                StringBuilder builder = new StringBuilder();
                Encode(value, builder, 0);
                encoded = builder.ToString();
            }
            catch (NotSupportedException unsupported)
            {
                channel.Record("unsupported", Text(unsupported.Message));
                continue;
            }
            catch (Exception)
            {
                channel.Record("unsupported", Text("a value that cannot be read"));
                continue;
            }
            channel.Record("returned", encoded);
        }
        Console.Out.Flush();
        Console.Error.Flush();
        Leave();
    }

    static MethodInfo Find(Channel channel)
    {
        StringBuilder found = new StringBuilder();
        foreach (Type type in Assembly.GetExecutingAssembly().GetTypes())
        {
            if (!type.IsPublic || type == typeof(CodeCapsuleHarness)) continue;
            foreach (MethodInfo method in type.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            {
                if (method.Name != Name) continue;
                if (!method.IsPublic || !method.IsStatic)
                {
                    found.Append(" `" + type.Name + "." + Name + "` is not public static;");
                    continue;
                }
                if (Matches(method)) return method;
                found.Append(" " + type.Name + " declares `" + Declared(method) + "`;");
            }
        }
        if (found.Length == 0)
            channel.Record("missing_function", Text("no public class of the program declares `public static " + Expected + "`"));
        else
            channel.Record("wrong_signature", Text("the capsule calls `public static " + Expected + "`, but" + found));
        Leave();
        return null;
    }

    static bool Matches(MethodInfo method)
    {
        ParameterInfo[] parameters = method.GetParameters();
        if (parameters.Length != ParamTypes.Length || method.ReturnType.ToString() != ReturnType) return false;
        for (int at = 0; at < parameters.Length; at++)
            if (parameters[at].ParameterType.ToString() != ParamTypes[at]) return false;
        return true;
    }

    static string Declared(MethodInfo method)
    {
        List<string> parameters = new List<string>();
        foreach (ParameterInfo parameter in method.GetParameters()) parameters.Add(parameter.ParameterType.ToString());
        return method.ReturnType + " " + Name + "(" + string.Join(", ", parameters.ToArray()) + ")";
    }

    static string Describe(Exception error)
    {
        try
        {
            string trace = error.StackTrace ?? "";
            int own = trace.IndexOf("  at (wrapper", StringComparison.Ordinal);
            if (own < 0) own = trace.IndexOf("  at System.Reflection", StringComparison.Ordinal);
            Console.Error.WriteLine(error.GetType().FullName + ": " + error.Message);
            Console.Error.WriteLine(own < 0 ? trace : trace.Substring(0, own).TrimEnd());
            Console.Error.Flush();
        }
        catch (Exception) { }
        return Text(error.GetType().FullName + ": " + error.Message);
    }

    static void Encode(object value, StringBuilder output, int depth)
    {
        if (depth > 64) throw new NotSupportedException("a value nested deeper than 64 levels");
        if (value == null) output.Append("null");
        else if (value is bool) output.Append((bool)value ? "true" : "false");
        else if (value is long || value is int || value is short || value is sbyte || value is byte)
            output.Append(Convert.ToInt64(value, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture));
        else if (value is double || value is float)
        {
            double number = Convert.ToDouble(value, CultureInfo.InvariantCulture);
            string shown = number.ToString("R", CultureInfo.InvariantCulture);
            output.Append(double.IsNaN(number) || double.IsInfinity(number) ? Text(shown) : shown);
        }
        else if (value is string) output.Append(Text((string)value));
        else if (value is IDictionary)
        {
            output.Append('{');
            int at = 0;
            foreach (DictionaryEntry entry in (IDictionary)value)
            {
                if (!(entry.Key is string)) throw new NotSupportedException("a Dictionary with a key that is not a string");
                if (at++ > 0) output.Append(',');
                output.Append(Text((string)entry.Key)).Append(':');
                Encode(entry.Value, output, depth + 1);
            }
            output.Append('}');
        }
        else if (value is IList)
        {
            output.Append('[');
            int at = 0;
            foreach (object item in (IList)value)
            {
                if (at++ > 0) output.Append(',');
                Encode(item, output, depth + 1);
            }
            output.Append(']');
        }
        else throw new NotSupportedException("a " + value.GetType().FullName + ", which is no value of the contract");
    }

    static string Text(string value)
    {
        StringBuilder output = new StringBuilder("\"");
        foreach (char c in value)
        {
            if (c == '"') output.Append("\\\"");
            else if (c == '\\') output.Append("\\\\");
            else if (c < 0x20) output.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            else output.Append(c);
        }
        return output.Append('"').ToString();
    }

    /// Reads the judge's JSON into the C# values of the contract's types (the judge checked them already).
    sealed class Reader
    {
        readonly string text;
        int at;

        public Reader(string text) { this.text = text; }

        public object[] List(string[] types)
        {
            Expect('[');
            object[] values = new object[types.Length];
            for (int index = 0; index < types.Length; index++)
            {
                if (index > 0) Expect(',');
                values[index] = Value(types[index]);
            }
            Expect(']');
            return values;
        }

        object Value(string type)
        {
            Skip();
            if (type.StartsWith("optional[", StringComparison.Ordinal))
            {
                if (string.CompareOrdinal(text, at, "null", 0, 4) == 0) { at += 4; return null; }
                return Value(type.Substring(9, type.Length - 10));
            }
            if (type.StartsWith("list[", StringComparison.Ordinal))
            {
                string item = type.Substring(5, type.Length - 6);
                IList values = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(ClrType(item)));
                Expect('[');
                Skip();
                if (text[at] == ']') { at++; return values; }
                do { values.Add(Value(item)); Skip(); } while (text[at++] == ',');
                return values;
            }
            if (type.StartsWith("map[", StringComparison.Ordinal))
            {
                string item = type.Substring(4, type.Length - 5);
                IDictionary values = (IDictionary)Activator.CreateInstance(typeof(Dictionary<,>).MakeGenericType(typeof(string), ClrType(item)));
                Expect('{');
                Skip();
                if (text[at] == '}') { at++; return values; }
                do
                {
                    Skip();
                    string key = ReadString();
                    Expect(':');
                    values[key] = Value(item);
                    Skip();
                } while (text[at++] == ',');
                return values;
            }
            switch (type)
            {
                case "string": return ReadString();
                case "bool":
                    if (text[at] == 't') { at += 4; return true; }
                    at += 5;
                    return false;
                case "int": return long.Parse(ReadNumber(), NumberStyles.Integer, CultureInfo.InvariantCulture);
                default: return double.Parse(ReadNumber(), NumberStyles.Float, CultureInfo.InvariantCulture);
            }
        }

        static Type ClrType(string type)
        {
            if (type.StartsWith("optional[", StringComparison.Ordinal))
            {
                Type inner = ClrType(type.Substring(9, type.Length - 10));
                return inner.IsValueType ? typeof(Nullable<>).MakeGenericType(inner) : inner;
            }
            if (type.StartsWith("list[", StringComparison.Ordinal)) return typeof(List<>).MakeGenericType(ClrType(type.Substring(5, type.Length - 6)));
            if (type.StartsWith("map[", StringComparison.Ordinal)) return typeof(Dictionary<,>).MakeGenericType(typeof(string), ClrType(type.Substring(4, type.Length - 5)));
            switch (type)
            {
                case "int": return typeof(long);
                case "float": return typeof(double);
                case "bool": return typeof(bool);
                default: return typeof(string);
            }
        }

        string ReadNumber()
        {
            int start = at;
            while (at < text.Length && "+-0123456789.eE".IndexOf(text[at]) >= 0) at++;
            return text.Substring(start, at - start);
        }

        string ReadString()
        {
            Expect('"');
            StringBuilder output = new StringBuilder();
            while (true)
            {
                char c = text[at++];
                if (c == '"') return output.ToString();
                if (c != '\\') { output.Append(c); continue; }
                char escaped = text[at++];
                switch (escaped)
                {
                    case 'n': output.Append('\n'); break;
                    case 't': output.Append('\t'); break;
                    case 'r': output.Append('\r'); break;
                    case 'b': output.Append('\b'); break;
                    case 'f': output.Append('\f'); break;
                    case 'u': output.Append((char)int.Parse(text.Substring(at, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture)); at += 4; break;
                    default: output.Append(escaped); break;
                }
            }
        }

        void Skip() { while (at < text.Length && text[at] == ' ') at++; }

        void Expect(char c)
        {
            Skip();
            if (text[at] != c) throw new FormatException("expected `" + c + "` at " + at);
            at++;
        }
    }
}
