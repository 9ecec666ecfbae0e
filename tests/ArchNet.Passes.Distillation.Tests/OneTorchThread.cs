using System.Runtime.CompilerServices;

namespace ArchNet.Passes.Distillation.Tests;

internal static class OneTorchThread
{
    // Tests share two cores with other work; more than one torch thread there is several times slower.
    [ModuleInitializer]
    internal static void Initialize() => TorchRuntime.UseThreads(1);
}
