using System.Diagnostics;
using ArchNet.Backends.Abstractions;
using ArchNet.Backends.Plugins;
using ArchNet.IR;

namespace ArchNet.Backends.C.Tests;

/// <summary>Emits a model with the c backend, compiles it with gcc and runs its harness on an .npy batch.</summary>
public sealed class CHarness : IDisposable
{
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("archnet-c-").FullName;

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);

    public IReadOnlyList<Artifact> Emit(Model model, string target = "archnet") =>
        BackendRun.Emit(new GuardedBackend(new CBackend(), "built-in backend 'c'"), model, target, Directory, new CollectingDiagnostics());

    /// <summary>gcc -std=c99 -O2 -ffp-contract=off; the warnings the generated code must not raise are errors.</summary>
    public string Compile(string flags = "-O2")
    {
        var exe = Path.Combine(Directory, "model_harness");
        Run("gcc", $"-std=c99 {flags} -ffp-contract=off -Wall -Wextra -Werror -Wno-unused-function -o {exe} model.c harness.c -lm");
        return exe;
    }

    /// <summary>Writes the batch, runs the harness, returns output <paramref name="output"/>'s integers per item.</summary>
    public int[][] RunQuantized(string exe, IReadOnlyList<float[]> items, int output = 0)
    {
        var input = Path.Combine(Directory, "input.npy");
        var result = Path.Combine(Directory, $"output{output}.npy");
        Npy.WriteFloat32(input, items, items[0].Length);
        Run(exe, $"{input} {result} --quantized --output {output}");
        var flat = Npy.ReadInt32(result);
        var per = flat.Length / items.Count;
        return [.. Enumerable.Range(0, items.Count).Select(i => flat.AsSpan(i * per, per).ToArray())];
    }

    public string Run(string file, string args)
    {
        var psi = new ProcessStartInfo(file, args) { WorkingDirectory = Directory, RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new Xunit.Sdk.XunitException($"{file} {args} exited {p.ExitCode}:\n{stderr}");
        return stdout.Result;
    }
}

/// <summary>Minimal .npy (version 1) reader and writer for the harness's float32 input and int32 output.</summary>
public static class Npy
{
    public static void WriteFloat32(string path, IReadOnlyList<float[]> items, int itemSize)
    {
        var header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({items.Count}, {itemSize}), }}";
        var pad = 64 - (10 + header.Length + 1) % 64;
        header = header + new string(' ', pad % 64) + "\n";
        using var w = new BinaryWriter(File.Create(path));
        w.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
        w.Write((ushort)header.Length);
        w.Write(System.Text.Encoding.ASCII.GetBytes(header));
        foreach (var item in items) foreach (var v in item) w.Write(v);
    }

    public static int[] ReadInt32(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var headerLength = BitConverter.ToUInt16(bytes, 8);
        var header = System.Text.Encoding.ASCII.GetString(bytes, 10, headerLength);
        if (!header.Contains("'<i4'")) throw new InvalidDataException($"{path}: expected int32, header {header}");
        var data = bytes.AsSpan(10 + headerLength);
        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(data).ToArray();
    }
}
