namespace ArchNet.Compiler.Tests;

/// <summary>The long training checks run one after another, not beside each other in one process: two TorchSharp
/// trainings side by side failed once with "Unknown scalar type" in Tensor.pow (not investigated further), and on two
/// cores they gain nothing from overlapping.</summary>
[CollectionDefinition(Sequential)]
public sealed class Gates
{
    public const string Sequential = "Training checks, one at a time";
}
