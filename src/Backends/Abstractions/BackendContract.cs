namespace ArchNet.Backends.Abstractions;

/// <summary>
/// The version of the backend contract (this assembly's public surface and the meaning of the quantized graph it
/// describes). A backend returns <see cref="Version"/> from <see cref="IBackend.ContractVersion"/>; because it is a
/// constant, the number is baked into the plugin when it is compiled, so the host can tell which contract a plugin
/// was built for. Raised on any change that would make an older plugin misbehave.
/// </summary>
public static class BackendContract
{
    /// <summary>The contract this assembly defines.</summary>
    public const int Version = 1;
}
