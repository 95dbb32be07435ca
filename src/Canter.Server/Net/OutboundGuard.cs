using System.Net;
using System.Net.Sockets;

namespace Canter.Server.Net;

/// <summary>
/// Where the server may connect when a client names the address (a webhook, an input URL): public addresses only
/// unless told otherwise. A client must not make the server reach loopback, the LAN (RFC 1918), CGNAT, link-local
/// (and so the cloud metadata address 169.254.169.254), unique-local IPv6 or multicast. Host names are resolved and
/// every address checked; <see cref="Handler"/> then connects only to an address it checked itself, so a name that
/// resolves elsewhere on the second lookup (DNS rebinding) gains nothing.
/// </summary>
public static class OutboundGuard
{
    /// <summary>Whether <paramref name="address"/> is on the public internet.</summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return !(b[0] is 0 or 10 or 127 or >= 224                 // this network, private, loopback, multicast and reserved
                || (b[0] == 100 && b[1] is >= 64 and < 128)              // CGNAT (100.100.100.200 is a cloud metadata address)
                || (b[0] == 169 && b[1] == 254)                          // link-local, the metadata address
                || (b[0] == 172 && b[1] is >= 16 and < 32)
                || (b[0] == 192 && b[1] == 168)
                || (b[0] == 192 && b[1] == 0 && b[2] is 0 or 2)          // IETF protocol assignments, documentation
                || (b[0] == 198 && b[1] is 18 or 19)                     // benchmarking
                || (b[0] == 198 && b[1] == 51 && b[2] == 100) || (b[0] == 203 && b[1] == 0 && b[2] == 113));
        }
        if (address.AddressFamily != AddressFamily.InterNetworkV6) return false;
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.IPv6None) || address.IsIPv6LinkLocal || address.IsIPv6SiteLocal
            || address.IsIPv6Multicast || address.IsIPv6UniqueLocal) return false;
        var v6 = address.GetAddressBytes();
        if (v6[0] == 0x20 && v6[1] == 0x01 && v6[2] == 0x0d && v6[3] == 0xb8) return false;   // documentation
        // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address: judge that one
        if (v6[0] == 0 && v6[1] == 0x64 && v6[2] == 0xff && v6[3] == 0x9b) return IsPublic(new IPAddress(v6[12..16]));
        if (v6[0] == 0x20 && v6[1] == 0x02) return IsPublic(new IPAddress(v6[2..6]));
        return true;
    }

    /// <summary>The addresses of <paramref name="host"/> (a name or a literal), all of them checked; throws with the reason when one is not allowed.</summary>
    public static async Task<IPAddress[]> ResolveAsync(string host, bool allowPrivate, CancellationToken cancel)
    {
        IPAddress[] addresses;
        if (IPAddress.TryParse(host.Trim('[', ']'), out var literal)) addresses = [literal];
        else
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            try { addresses = await Dns.GetHostAddressesAsync(host, timeout.Token); }
            catch (Exception e) when (e is SocketException or OperationCanceledException && !cancel.IsCancellationRequested)
            {
                throw new OutboundRefusedException($"the host '{host}' cannot be resolved");
            }
        }
        if (addresses.Length == 0) throw new OutboundRefusedException($"the host '{host}' has no address");
        if (!allowPrivate && addresses.FirstOrDefault(a => !IsPublic(a)) is { } refused)
            throw new OutboundRefusedException($"'{host}' is at {refused}, a loopback, private, link-local or otherwise non-public address; this server does not connect there");
        return addresses;
    }

    /// <summary>
    /// A handler that resolves and checks every new connection's host itself and connects to the checked address,
    /// follows no redirect, and judges per host whether non-public addresses are allowed.
    /// </summary>
    public static SocketsHttpHandler Handler(Func<string, bool> allowPrivate) => new()
    {
        AllowAutoRedirect = false,
        UseCookies = false,
        UseProxy = false,   // a proxy would make the connection, and the check, somewhere else
        PooledConnectionLifetime = TimeSpan.FromMinutes(1),
        ConnectTimeout = TimeSpan.FromSeconds(10),
        ConnectCallback = async (context, cancel) =>
        {
            var host = context.DnsEndPoint.Host;
            var addresses = await ResolveAsync(host, allowPrivate(host), cancel);
            Exception? last = null;
            foreach (var address in addresses)
            {
                var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancel);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch (SocketException e)
                {
                    socket.Dispose();
                    last = e;
                }
            }
            throw last ?? new SocketException((int)SocketError.HostNotFound);
        },
    };
}

/// <summary>The server will not connect where it was asked to; the message says why.</summary>
public sealed class OutboundRefusedException(string message) : Exception(message);
