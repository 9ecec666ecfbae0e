using System.Diagnostics;
using ArchNet.Frontend.Data;
using ArchNet.IR;
using ArchNet.Testing;

namespace ArchNet.Backends.TFLite.Tests;

/// <summary>
/// Arm NN 20.08 (Debian's python3-pyarmnn, CpuRef backend): the independent runtime the tflite backend's artifacts are
/// checked against, run in a child process through tests/tools/armnn_run.py with Debian's /usr/bin/python3.
/// </summary>
public static class ArmNn
{
    private static string Runner => Path.Combine(TestData.RepoRoot, "tests", "tools", "armnn_run.py");

    /// <summary>Runs <paramref name="model"/> on stacked NHWC float inputs (one leading item axis); returns the first
    /// output's floats, item after item.</summary>
    public static float[] Run(string model, TensorData stackedInput)
    {
        var dir = Directory.CreateTempSubdirectory("armnn-").FullName;
        try
        {
            var input = Path.Combine(dir, "input.npy");
            Npy.Write(input, stackedInput);
            var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in new[] { Runner, model, dir, input }) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException($"armnn_run.py exited {p.ExitCode}: {stderr.Result}");
            return Npy.Read(Path.Combine(dir, "output_0.npy")).Span<float>().ToArray();
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
