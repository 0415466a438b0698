-- glassnat.lua: Wireshark / tshark fields for glassnat's trace notes.
--
-- glassnat writes every traced packet twice, before and after
-- translation, into pcapng (interfaces pre-nat and post-nat), each with a
-- comment in one stable form (docs/trace-format.md):
--   flow=42 stage=pre dir=out verdict=nat rule=internet map=192.0.2.1:40001
-- This post-dissector turns the comment into fields, so a filter says
-- exactly what it means (glassnat.flow == 3 never matches flow 30), and
-- links each pre packet with its post packet.
--
--   tshark -X lua_script:glassnat.lua -r RING -Y 'glassnat.flow == 3'
--   tshark -X lua_script:glassnat.lua -2 -R glassnat -r RING -T fields \
--          -e frame.number -e glassnat.pair
-- (a post packet names its pre packet in one pass; the pre packet names
-- its post packet from a second pass on: tshark -2 with a read filter,
-- so that the first pass dissects the comments, or Wireshark's GUI.)
--
-- Install: copy or link it into Wireshark's personal Lua plugin folder
-- (~/.local/lib/wireshark/plugins/). `make install` puts it in
-- PREFIX/share/glassnat/wireshark/ with the column profile (preferences).
--
-- Values are percent-encoded by the tracer (space, '%', '=' and control
-- bytes); glassnat replay output (no stage=) writes rule names raw, so a
-- word without '=' after rule= or reason= continues that value.

local p = Proto("glassnat", "glassnat NAT trace note")

local f = {
	flow = ProtoField.uint64("glassnat.flow", "Flow", base.DEC),
	stage = ProtoField.string("glassnat.stage", "Stage",
		"pre (before translation) or post (after)"),
	dir = ProtoField.string("glassnat.dir", "Direction",
		"out (from inside) or in (from outside)"),
	verdict = ProtoField.string("glassnat.verdict", "Verdict"),
	rule = ProtoField.string("glassnat.rule", "Rule",
		"the rule or port forward that decided the flow"),
	reason = ProtoField.string("glassnat.reason", "Reason",
		"why the packet was dropped or passed untranslated"),
	map = ProtoField.string("glassnat.map", "Mapping",
		"the inside host's external address:port"),
	map_ip = ProtoField.ipv4("glassnat.map.ip", "Mapped address"),
	map_port = ProtoField.uint16("glassnat.map.port", "Mapped port"),
	hairpin = ProtoField.bool("glassnat.hairpin", "Hairpinned", base.NONE),
	pair = ProtoField.framenum("glassnat.pair", "Other copy",
		base.NONE, nil, 0,
		"the frame of this packet's other side (pre <-> post)"),
	copy = ProtoField.bool("glassnat.copy", "Same-tuple copy", base.NONE,
		nil, nil, "a post packet with the addresses and ports of its pre packet: " ..
		"TCP analysis flags on it (retransmission, duplicate ACK) only " ..
		"see the pre copy"),
}
p.fields = f

local comment_f = Field.new("frame.comment")
local ip_src_f = Field.new("ip.src")
local ip_dst_f = Field.new("ip.dst")
local tcp_sport_f = Field.new("tcp.srcport")
local tcp_dport_f = Field.new("tcp.dstport")

local copy_expert = ProtoExpert.new("glassnat.copy.expert", "Post copy of " ..
	"a packet with the same tuple: TCP analysis flags here are an " ..
	"artifact of tracing both sides", expert.group.SEQUENCE,
	expert.severity.NOTE)
p.experts = { copy_expert }

-- Per capture file: the pending pre frame and its tuple, by flow id (a
-- string), and the links found, by frame number. Filled on the first pass
-- (frame 1 unvisited starts a file); a second pass (tshark -2, the GUI)
-- shows the pre -> post link too. Not in init(): that runs before the
-- second pass as well.
local pending, pending_tuple, pair_of = {}, {}, {}

local function unescape(s)
	return (s:gsub("%%(%x%x)", function(h)
		return string.char(tonumber(h, 16))
	end))
end

-- The note's key/value pairs, or nil without a valid flow=.
local function parse(comment)
	local kv, last = {}, nil
	for word in comment:gmatch("%S+") do
		local k, v = word:match("^([%w_]+)=(.*)$")
		if k then
			kv[k] = unescape(v)
			last = k
		elseif last == "rule" or last == "reason" then
			kv[last] = kv[last] .. " " .. unescape(word)
		else
			last = nil
		end
	end
	if not kv.flow or not kv.flow:match("^%d+$") or #kv.flow > 20 then
		return nil
	end
	return kv
end

local function uint64_of(digits)
	local v = UInt64(0)
	for d in digits:gmatch("%d") do
		v = v * 10 + tonumber(d)
	end
	return v
end

local function tuple()
	local s, d = ip_src_f(), ip_dst_f()
	if not s or not d then
		return nil
	end
	local sp, dp = tcp_sport_f(), tcp_dport_f()
	return tostring(s.value) .. ">" .. tostring(d.value) .. " " ..
		(sp and tostring(sp.value) or "-") .. ">" ..
		(dp and tostring(dp.value) or "-")
end

function p.dissector(tvb, pinfo, tree)
	local c = comment_f()
	if not c then
		if pinfo.number == 1 and not pinfo.visited then
			pending, pending_tuple, pair_of = {}, {}, {}
		end
		return
	end
	local kv = parse(tostring(c.value))
	if not kv then
		return
	end
	local n = pinfo.number
	local t = tree:add(p, "glassnat: flow " .. kv.flow ..
		(kv.stage and (" " .. kv.stage) or "") ..
		(kv.dir and (" " .. kv.dir) or "") ..
		(kv.verdict and (" " .. kv.verdict) or ""))
	t:add(f.flow, uint64_of(kv.flow))
	if kv.stage then t:add(f.stage, kv.stage) end
	if kv.dir then t:add(f.dir, kv.dir) end
	if kv.verdict then t:add(f.verdict, kv.verdict) end
	if kv.rule then t:add(f.rule, kv.rule) end
	if kv.reason then t:add(f.reason, kv.reason) end
	if kv.map then
		t:add(f.map, kv.map)
		local ip, port = kv.map:match("^(%d+%.%d+%.%d+%.%d+):(%d+)$")
		if not ip then
			ip = kv.map:match("^(%d+%.%d+%.%d+%.%d+)$")
		end
		if ip then t:add(f.map_ip, Address.ip(ip)) end
		if port and tonumber(port) <= 65535 then
			t:add(f.map_port, tonumber(port))
		end
	end
	if kv.hairpin then t:add(f.hairpin, kv.hairpin == "1") end

	if not pinfo.visited then
		if n == 1 then
			pending, pending_tuple, pair_of = {}, {}, {}
		end
		if kv.stage == "pre" then
			pending[kv.flow] = n
			pending_tuple[kv.flow] = tuple()
		elseif kv.stage == "post" and pending[kv.flow] then
			local pre = pending[kv.flow]
			pair_of[n] = { pre, pending_tuple[kv.flow] ~= nil and
				pending_tuple[kv.flow] == tuple() }
			pair_of[pre] = { n, false }
			pending[kv.flow] = nil
			pending_tuple[kv.flow] = nil
		end
	end
	local link = pair_of[n]
	if link then
		t:add(f.pair, link[1])
		if link[2] then
			local ci = t:add(f.copy, true)
			ci:add_proto_expert_info(copy_expert)
		end
	end
end

register_postdissector(p, true)
