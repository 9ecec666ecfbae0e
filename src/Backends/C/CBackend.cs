using System.Text;
using ArchNet.Backends.Abstractions;

namespace ArchNet.Backends.C;

/// <summary>
/// Built-in backend <c>c</c>: writes <c>model.c</c> and <c>model.h</c> (dependency-free C99: integer kernels, weights as
/// const arrays, one statically planned arena), <c>harness.c</c> (runs a batch from an .npy file) and
/// <c>CMakeLists.txt</c>. The output equals the emulator's bit for bit. Any target: <see cref="Validate"/> says which
/// graphs it can emit (the integer ops of the archnet and arm-ethos-u55 operator sets, weights of 2 to 8 bits).
/// </summary>
public sealed class CBackend : IBackend
{
    /// <summary>File stem and C identifier prefix of the generated model.</summary>
    public const string Prefix = "model";

    /// <summary>The ops this backend writes integer kernels for.</summary>
    public static IReadOnlySet<string> Ops => CProgram.Ops;

    public string Name => "c";
    public string Description => "dependency-free C99 (model.c, model.h, .npy harness, CMakeLists.txt), bit-exact with the emulator";
    public int ContractVersion => BackendContract.Version;
    public IReadOnlyList<string> ServedTargets => ["*"];

    public IReadOnlyList<BackendDiagnostic> Validate(QuantizedGraph graph, string capability) => CProgram.Lower(graph, Prefix).Problems;

    public IReadOnlyList<Artifact> Emit(QuantizedGraph graph, string outputDirectory)
    {
        var program = CProgram.Lower(graph, Prefix);
        if (program.Problems.Count > 0) throw new InvalidOperationException($"the c backend cannot emit this graph: {program.Problems[0]}");
        var (header, source) = program.Emit();
        var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
        File.WriteAllText(Path.Combine(outputDirectory, $"{Prefix}.h"), header, utf8);
        File.WriteAllText(Path.Combine(outputDirectory, $"{Prefix}.c"), source, utf8);
        File.WriteAllText(Path.Combine(outputDirectory, "harness.c"), program.Harness(), utf8);
        File.WriteAllText(Path.Combine(outputDirectory, "CMakeLists.txt"), program.CMakeLists(), utf8);
        return
        [
            new Artifact($"{Prefix}.c", "C99 model: kernels, weights, memory plan"),
            new Artifact($"{Prefix}.h", "C99 model interface"),
            new Artifact("harness.c", ".npy in, .npy out runner"),
            new Artifact("CMakeLists.txt", "CMake build of the model and harness"),
        ];
    }
}
