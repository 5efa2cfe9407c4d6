// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from '@openzeppelin/contracts/token/ERC20/ERC20.sol';
import {EIP712} from '@openzeppelin/contracts/utils/cryptography/EIP712.sol';
import {ECDSA} from '@openzeppelin/contracts/utils/cryptography/ECDSA.sol';

/// @notice Anchors the ledger committee's certified epoch roots and pays cumulative rewards against them; it is
/// also the WEIR ERC-20 itself. An epoch is accepted only in order and only with a quorum of distinct committee
/// signatures over one EIP-712 digest, and certifies at most `emissionPerEpoch` more than the previous one.
/// Leaves hold cumulative amounts, so one claim against the latest root pays everything owed so far.
///
/// Tokens are minted when claimed, never beyond the latest anchored cumulative total, so the supply never
/// exceeds what the committee certified. An account's balance and its claimed total share one storage slot:
/// a first claim writes one fresh slot instead of two, and the claim path makes no external call.
/// Amounts are uint128: the deployment refuses an emission of 2^128 or more (as the network definition does)
/// and submitEpoch a cumulative total of 2^128 or more, and every balance, claimed total and the supply is
/// at most the anchored total.
contract WeirRewards is ERC20, EIP712 {
    bytes32 private constant EPOCH_ROOT_TYPEHASH = keccak256(
        'EpochRoot(bytes32 network,uint64 epoch,bytes32 contentRoot,bytes32 rewardsRoot,uint256 cumulativeTotal)'
    );
    bytes32 private constant COMMITTEE_ROTATION_TYPEHASH =
        keccak256('CommitteeRotation(bytes32 network,uint64 nonce,address[] members,uint256 quorum)');
    /// Signers are tracked in a 256-bit set while a submission is checked.
    uint256 private constant MAX_COMMITTEE = 256;

    /// One slot per account.
    struct Account {
        uint128 balance;
        uint128 claimed;
    }

    /// The latest epoch's cumulativeTotal and how much of it claims have minted (the token's total supply);
    /// minted <= anchored < 2^128 always.
    struct Totals {
        uint128 anchored;
        uint128 minted;
    }

    struct EpochRoot {
        bytes32 contentRoot;
        bytes32 rewardsRoot;
        uint256 cumulativeTotal;
    }

    bytes32 public immutable network;
    uint256 public immutable emissionPerEpoch;

    // One slot, read together by submitEpoch.
    uint64 public nextEpoch;
    uint64 public rotationNonce;
    uint64 private _quorum;

    /// Duplicated from `_epochs[nextEpoch - 1]` so a claim reads one slot.
    bytes32 public latestRewardsRoot;
    /// One slot, read and written together by a claim.
    Totals private _totals;
    address[] private _committee;
    /// 1 + index in the committee of the given rotation nonce; 0 means not a member.
    mapping(uint64 nonce => mapping(address => uint256)) private _memberSlot;
    mapping(uint64 epoch => EpochRoot) private _epochs;
    /// Replaces ERC20's balance storage (ERC20._balances and ERC20._totalSupply stay unused).
    mapping(address account => Account) private _accounts;

    event EpochSubmitted(
        uint64 indexed epoch, bytes32 contentRoot, bytes32 rewardsRoot, uint256 cumulativeTotal, uint256 minted
    );
    /// `rotationNonce` is the nonce the next CommitteeRotation message must carry.
    event CommitteeRotated(uint64 indexed rotationNonce, address[] members, uint256 quorum);

    error NotNextEpoch(uint64 expected, uint64 got);
    error EpochNotAnchored(uint64 epoch);
    error NotEnoughSignatures(uint256 got, uint256 quorum);
    error InvalidSignature(uint256 index);
    error NotCommitteeMember(address signer);
    error DuplicateSigner(address signer);
    error TotalDecreased(uint256 previous, uint256 got);
    error EmissionExceeded(uint256 delta, uint256 emissionPerEpoch);
    error InvalidProof();
    error NothingToClaim(address account);
    error InvalidQuorum(uint256 quorum, uint256 members);
    error InvalidCommitteeSize(uint256 members);
    error InvalidMember(address member);
    error InvalidEmission(uint256 emissionPerEpoch);
    error TotalTooLarge(uint256 cumulativeTotal);
    error ClaimExceedsAnchoredTotal(uint256 amount, uint256 unclaimed);

    constructor(bytes32 network_, address[] memory committee_, uint256 quorum_, uint256 emissionPerEpoch_)
        ERC20('Weir', 'WEIR')
        EIP712('Weir', '1')
    {
        if (emissionPerEpoch_ > type(uint128).max) revert InvalidEmission(emissionPerEpoch_);
        network = network_;
        emissionPerEpoch = emissionPerEpoch_;
        _setCommittee(committee_, quorum_);
    }

    function submitEpoch(
        uint64 epoch,
        bytes32 contentRoot,
        bytes32 rewardsRoot,
        uint256 cumulativeTotal,
        bytes[] calldata signatures
    ) external {
        uint64 expected = nextEpoch;
        if (epoch != expected) revert NotNextEpoch(expected, epoch);
        uint256 previous = _totals.anchored;
        if (cumulativeTotal < previous) revert TotalDecreased(previous, cumulativeTotal);
        uint256 minted = cumulativeTotal - previous;
        if (minted > emissionPerEpoch) revert EmissionExceeded(minted, emissionPerEpoch);
        if (cumulativeTotal > type(uint128).max) revert TotalTooLarge(cumulativeTotal);

        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(EPOCH_ROOT_TYPEHASH, network, epoch, contentRoot, rewardsRoot, cumulativeTotal))
        );
        _checkQuorum(digest, signatures);

        _epochs[epoch] = EpochRoot(contentRoot, rewardsRoot, cumulativeTotal);
        latestRewardsRoot = rewardsRoot;
        _totals.anchored = uint128(cumulativeTotal);
        nextEpoch = epoch + 1;
        // `minted` is what this epoch certified; claims mint it.
        emit EpochSubmitted(epoch, contentRoot, rewardsRoot, cumulativeTotal, minted);
    }

    /// Mints to `account` what its leaf in the latest rewards tree holds beyond what it has already claimed.
    /// Anyone may submit it; the tokens always go to `account`.
    function claim(address account, uint128 cumulativeAmount, bytes32[] calldata proof) external {
        if (account == address(0)) revert ERC20InvalidReceiver(address(0));
        if (!_inLatestTree(account, cumulativeAmount, proof)) revert InvalidProof();
        Account storage stored = _accounts[account];
        // Both slots are read and written whole (see Account and Totals: the low half is the first member).
        uint256 held;
        uint256 totals;
        assembly ("memory-safe") {
            held := sload(stored.slot)
            totals := sload(_totals.slot)
        }
        uint256 claimedBefore = held >> 128;
        if (cumulativeAmount <= claimedBefore) revert NothingToClaim(account);
        uint256 amount;
        unchecked {
            amount = cumulativeAmount - claimedBefore;
            // minted <= anchored holds after every transaction, so this cannot underflow.
            uint256 unclaimed = uint128(totals) - (totals >> 128);
            if (amount > unclaimed) revert ClaimExceedsAnchoredTotal(amount, unclaimed);
            // Claimed totals add up to minted and balances to minted too, so cumulativeAmount = claimed + amount
            // <= minted + unclaimed = anchored < 2^128, and so are minted + amount and the new balance: adding
            // `amount` to both halves of the account slot (claimed and balance) and to the high half of the
            // totals slot (minted) carries nothing across halves.
            assembly ("memory-safe") {
                sstore(_totals.slot, add(totals, shl(128, amount)))
                sstore(stored.slot, add(held, mul(amount, 0x100000000000000000000000000000001)))
            }
        }
        // The mint's Transfer is the claim's event: claims are the only mints, and claimed(account) holds the new
        // cumulative amount. A separate Claimed event cost 1,715 gas more per claim. Logged from scratch
        // space, which saves expanding memory.
        bytes32 transferTopic = Transfer.selector;
        assembly ("memory-safe") {
            mstore(0x00, amount)
            log3(0x00, 0x20, transferTopic, 0, and(account, 0xffffffffffffffffffffffffffffffffffffffff))
        }
    }

    /// Whether the leaf (account, cumulativeAmount) is in the latest rewards tree: OpenZeppelin
    /// StandardMerkleTree's double-hashed `abi.encode(address, uint256)` leaf and sorted-pair nodes, as
    /// MerkleProof.verifyCalldata checks them, hashed in scratch space without allocating memory.
    function _inLatestTree(address account, uint256 cumulativeAmount, bytes32[] calldata proof)
        private
        view
        returns (bool)
    {
        bytes32 node;
        assembly ("memory-safe") {
            mstore(0x00, and(account, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(0x20, cumulativeAmount)
            mstore(0x00, keccak256(0x00, 0x40))
            node := keccak256(0x00, 0x20)
            // Each level hashes the sorted pair: the node goes second (at 0x20) only when it is the larger. The
            // levels are unrolled four to an iteration (after the remainder of the length divided by 4), so the loop
            // jumps once per four levels: a plain loop spends about as much gas again on jumps and its counter.
            let p := proof.offset
            let end := add(p, shl(5, proof.length))
            let sibling
            let at
            if and(proof.length, 1) {
                sibling := calldataload(p)
                at := shl(5, gt(node, sibling))
                mstore(at, node)
                mstore(xor(at, 0x20), sibling)
                node := keccak256(0x00, 0x40)
                p := add(p, 0x20)
            }
            if and(proof.length, 2) {
                sibling := calldataload(p)
                at := shl(5, gt(node, sibling))
                mstore(at, node)
                mstore(xor(at, 0x20), sibling)
                node := keccak256(0x00, 0x40)
                sibling := calldataload(add(p, 0x20))
                at := shl(5, gt(node, sibling))
                mstore(at, node)
                mstore(xor(at, 0x20), sibling)
                node := keccak256(0x00, 0x40)
                p := add(p, 0x40)
            }
            if lt(p, end) {
                for {} 1 {} {
                    sibling := calldataload(p)
                    at := shl(5, gt(node, sibling))
                    mstore(at, node)
                    mstore(xor(at, 0x20), sibling)
                    node := keccak256(0x00, 0x40)
                    sibling := calldataload(add(p, 0x20))
                    at := shl(5, gt(node, sibling))
                    mstore(at, node)
                    mstore(xor(at, 0x20), sibling)
                    node := keccak256(0x00, 0x40)
                    sibling := calldataload(add(p, 0x40))
                    at := shl(5, gt(node, sibling))
                    mstore(at, node)
                    mstore(xor(at, 0x20), sibling)
                    node := keccak256(0x00, 0x40)
                    sibling := calldataload(add(p, 0x60))
                    at := shl(5, gt(node, sibling))
                    mstore(at, node)
                    mstore(xor(at, 0x20), sibling)
                    node := keccak256(0x00, 0x40)
                    p := add(p, 0x80)
                    if iszero(lt(p, end)) { break }
                }
            }
        }
        return node == latestRewardsRoot;
    }

    /// Replaces the committee; the new one is signed for by a quorum of the current one.
    function rotateCommittee(address[] calldata members, uint256 quorum_, bytes[] calldata signatures) external {
        uint64 nonce = rotationNonce;
        bytes32 digest = _hashTypedDataV4(
            keccak256(
                abi.encode(
                    COMMITTEE_ROTATION_TYPEHASH, network, nonce, keccak256(abi.encodePacked(members)), quorum_
                )
            )
        );
        _checkQuorum(digest, signatures);
        rotationNonce = nonce + 1;
        _setCommittee(members, quorum_);
    }

    function rootOf(uint64 epoch)
        external
        view
        returns (bytes32 contentRoot, bytes32 rewardsRoot, uint256 cumulativeTotal)
    {
        if (epoch >= nextEpoch) revert EpochNotAnchored(epoch);
        EpochRoot storage root = _epochs[epoch];
        return (root.contentRoot, root.rewardsRoot, root.cumulativeTotal);
    }

    /// The latest anchored epoch's cumulativeTotal (everything ever certified), 0 before the first epoch.
    function anchoredTotal() external view returns (uint256) {
        return _totals.anchored;
    }

    /// Cumulative amount already paid to the account.
    function claimed(address account) external view returns (uint256) {
        return _accounts[account].claimed;
    }

    /// The reward token: this contract.
    function token() external view returns (address) {
        return address(this);
    }

    /// Tokens minted so far by claims; never above anchoredTotal().
    function totalSupply() public view override returns (uint256) {
        return _totals.minted;
    }

    function balanceOf(address account) public view override returns (uint256) {
        return _accounts[account].balance;
    }

    function committee() external view returns (address[] memory) {
        return _committee;
    }

    function quorum() external view returns (uint256) {
        return _quorum;
    }

    function isCommitteeMember(address account) external view returns (bool) {
        return _memberSlot[rotationNonce][account] != 0;
    }

    /// ERC20's transfer and transferFrom land here, always with non-zero `from` and `to` (minting happens only
    /// in claim, and nothing burns).
    function _update(address from, address to, uint256 value) internal override {
        uint256 fromBalance = _accounts[from].balance;
        if (fromBalance < value) revert ERC20InsufficientBalance(from, fromBalance, value);
        unchecked {
            // value <= fromBalance, and balances add up to the supply, below 2^128.
            _accounts[from].balance = uint128(fromBalance - value);
            _accounts[to].balance += uint128(value);
        }
        emit Transfer(from, to, value);
    }

    function _checkQuorum(bytes32 digest, bytes[] calldata signatures) private view {
        uint256 needed = _quorum;
        if (signatures.length < needed) revert NotEnoughSignatures(signatures.length, needed);
        mapping(address => uint256) storage slotOf = _memberSlot[rotationNonce];
        uint256 seen;
        for (uint256 i = 0; i < signatures.length; ++i) {
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signatures[i]);
            if (err != ECDSA.RecoverError.NoError) revert InvalidSignature(i);
            uint256 slot = slotOf[signer];
            if (slot == 0) revert NotCommitteeMember(signer);
            uint256 bit = 1 << (slot - 1);
            if (seen & bit != 0) revert DuplicateSigner(signer);
            seen |= bit;
        }
    }

    function _setCommittee(address[] memory members, uint256 quorum_) private {
        uint256 n = members.length;
        if (n == 0 || n > MAX_COMMITTEE) revert InvalidCommitteeSize(n);
        if (quorum_ == 0 || quorum_ > n) revert InvalidQuorum(quorum_, n);
        uint64 nonce = rotationNonce;
        mapping(address => uint256) storage slotOf = _memberSlot[nonce];
        for (uint256 i = 0; i < n; ++i) {
            address member = members[i];
            if (member == address(0) || slotOf[member] != 0) revert InvalidMember(member);
            slotOf[member] = i + 1;
        }
        _committee = members;
        _quorum = uint64(quorum_);
        emit CommitteeRotated(nonce, members, quorum_);
    }
}
