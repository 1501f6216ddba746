
-- RRP/1-S: RRP over UDP with authenticated encryption (rrp_spec.secure_wire) --------------------------------
-- Only the clear header can be read without the key: magic, version, flags, key ID and sequence. The rest of
-- the datagram is the sealed RRP/1 message and its tag, shown as the protected part.
local rrps = Proto("rrps", "${secure_title}")
local SECURE_MAGIC = "${secure_magic}"
local SECURE_VERSION = ${secure_version}
local SECURE_HEADER_SIZE = ${secure_header_size}
local TAG_SIZE = ${tag_size}
local SECURE_PORT = ${secure_port}
local SEQUENCE_TICKS_PER_SECOND = ${sequence_ticks}
local SECURE_OFFSET = { ${secure_offsets} }
local SECURE_WIDTH = { ${secure_widths} }
-- The shortest datagram that can carry a message: clear header, an RRP/1 header and the tag.
local SECURE_MINIMUM = SECURE_HEADER_SIZE + HEADER_SIZE + TAG_SIZE

local shf = {
${secure_fields}
}
rrps.fields = {
${secure_field_list}
}
local secure_experts = {
${secure_experts}
}
rrps.experts = {
${secure_expert_list}
}

function rrps.dissector(tvb, pinfo, tree)
    local length = tvb:reported_len()
    pinfo.cols.protocol = "RRP/1-S"
    local root = tree:add(rrps, tvb())
    if length < SECURE_HEADER_SIZE then
        root:add_proto_expert_info(secure_experts.short)
        pinfo.cols.info:set(string.format("%d bytes, shorter than a clear header", length))
        return tvb:len()
    end
    local magic_item = root:add(shf.magic, tvb(SECURE_OFFSET.magic, SECURE_WIDTH.magic))
    if tvb:raw(SECURE_OFFSET.magic, SECURE_WIDTH.magic) ~= SECURE_MAGIC then
        magic_item:add_proto_expert_info(secure_experts.bad_magic)
    end
    local version_item = root:add(shf.version, tvb(SECURE_OFFSET.version, SECURE_WIDTH.version))
    if tvb(SECURE_OFFSET.version, SECURE_WIDTH.version):uint() ~= SECURE_VERSION then
        version_item:add_proto_expert_info(secure_experts.bad_version)
    end
    local flags = tvb(SECURE_OFFSET.flags, SECURE_WIDTH.flags):uint()
    local flags_item = root:add(shf.flags, tvb(SECURE_OFFSET.flags, SECURE_WIDTH.flags))
    flags_item:add(shf.flags_reply, tvb(SECURE_OFFSET.flags, SECURE_WIDTH.flags))
    local reserved_item = flags_item:add(shf.flags_reserved, tvb(SECURE_OFFSET.flags, SECURE_WIDTH.flags))
    if bit.band(flags, RESERVED_FLAG_BITS) ~= 0 then
        reserved_item:add_proto_expert_info(secure_experts.reserved_flags)
    end
    local is_reply = bit.band(flags, REPLY_FLAG) ~= 0
    flags_item:append_text(is_reply and " (REPLY)" or " (request)")
    local key_range = tvb(SECURE_OFFSET.key_id, SECURE_WIDTH.key_id)
    local key_item = root:add(shf.key_id, key_range)
    if key_range:uint() == 0 then key_item:add_proto_expert_info(secure_experts.key_id_zero) end
    local sequence_range = tvb(SECURE_OFFSET.sequence, SECURE_WIDTH.sequence)
    local sequence_item = root:add(shf.sequence, sequence_range)
    local ticks = sequence_range:uint64()
    local seconds = (ticks / SEQUENCE_TICKS_PER_SECOND):tonumber()
    local fraction = (ticks % SEQUENCE_TICKS_PER_SECOND):tonumber()
    local nanoseconds = fraction * (1e9 / SEQUENCE_TICKS_PER_SECOND)
    local time_item = sequence_item:add(shf.sequence_time, sequence_range, NSTime.new(seconds, nanoseconds))
    time_item:set_generated()

    local protected = length - SECURE_HEADER_SIZE
    if length < SECURE_MINIMUM then
        root:add_proto_expert_info(secure_experts.short)
    end
    if protected > 0 then
        local protected_item = root:add(shf.protected, tvb(SECURE_HEADER_SIZE))
        protected_item:append_text(" [sealed; readable only with the key]")
        if protected >= TAG_SIZE then
            if protected > TAG_SIZE then
                protected_item:add(shf.ciphertext, tvb(SECURE_HEADER_SIZE, protected - TAG_SIZE))
            end
            protected_item:add(shf.tag, tvb(length - TAG_SIZE, TAG_SIZE))
        end
    end
    local summary = string.format(
        "%s key=%d seq=%s, %d protected bytes",
        is_reply and "Protected reply" or "Protected request", key_range:uint(), tostring(ticks), math.max(protected, 0)
    )
    root:append_text(", " .. summary)
    pinfo.cols.info:set(summary)
    return tvb:len()
end

local function heuristic_secure_udp(tvb, pinfo, tree)
    if tvb:len() < SECURE_MINIMUM or tvb:raw(SECURE_OFFSET.magic, SECURE_WIDTH.magic) ~= SECURE_MAGIC then
        return false
    end
    if tvb(SECURE_OFFSET.version, SECURE_WIDTH.version):uint() ~= SECURE_VERSION then return false end
    rrps.dissector(tvb, pinfo, tree)
    return true
end

DissectorTable.get("udp.port"):add(SECURE_PORT, rrps)
rrps:register_heuristic("udp", heuristic_secure_udp)
-- RRP/1 over TLS: TLS on the secure port, and RRP inside any TLS session that negotiated its ALPN (decrypted
-- when Wireshark has the session keys, e.g. from SSLKEYLOGFILE).
local tls = Dissector.get("tls")
if tls ~= nil then DissectorTable.get("tcp.port"):add(SECURE_PORT, tls) end
local alpn = DissectorTable.get("tls.alpn")
if alpn ~= nil then alpn:add("${tls_alpn}", rrp) end
