#pragma once
/// CURVE on sightline's ZeroMQ sockets (docs/security.md): key files, a server's keys with the clients it admits,
/// a client's keys with the server it trusts. A line (and a monitor's alarm socket) is a CURVE server; sinks are
/// clients. Without keys every socket stays plain ZeroMQ, for loopback.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace sightline::transport {

/// A CURVE key pair as Z85 text (40 characters each), as zmq_curve_keypair and pyzmq's zmq.curve_keypair make.
struct CurveKeyPair {
    std::string public_key, secret_key;
};

/// Makes a fresh key pair and writes `<name>.key` (the secret, mode 0600, created so: never readable by others
/// even for an instant) and `<name>.pub` (the public key); each file holds its Z85 text and a newline. Refuses to
/// overwrite an existing file unless `overwrite`. Error(kIo) naming the file when it cannot write.
CurveKeyPair generate_key_files(const std::filesystem::path& name, bool overwrite = false);

/// Reads a secret key file (and derives its public key). Error(kBadInput) naming the file when it is readable or
/// writable by anyone but its owner (chmod 600 it), or does not hold one Z85 key; kNotFound when it is missing.
/// The key itself never appears in an error or a log.
CurveKeyPair load_secret_key(const std::filesystem::path& file);
/// Reads a public key file (`.pub`): one Z85 key. Error(kBadInput) naming the file otherwise.
std::string load_public_key(const std::filesystem::path& file);

/// A CURVE server's side: its keys, and the clients it admits (public keys, Z85): empty admits any client that
/// knows the server's public key.
struct CurveServer {
    CurveKeyPair keys;
    std::vector<std::string> authorized;
};

/// A CURVE client's side: its keys, and the server's public key it expects.
struct CurveClient {
    CurveKeyPair keys;
    std::string server_key;
};

/// A sink's CURVE clients from its options: `key` (its secret key file) and `server_keys` (the lines' .pub files:
/// one for every endpoint, or one each). Nothing when both are empty; Error(kBadInput) when only one side is given.
std::vector<CurveClient> load_client_keys(const std::string& key, const std::vector<std::string>& server_keys);

/// Whether a tcp endpoint binds only loopback (127.0.0.0/8, ::1, localhost); ipc:// and inproc:// count as local.
bool is_local_endpoint(const std::string& endpoint);

} // namespace sightline::transport
