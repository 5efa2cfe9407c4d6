// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {EIP712} from '@openzeppelin/contracts/utils/cryptography/EIP712.sol';
import {ECDSA} from '@openzeppelin/contracts/utils/cryptography/ECDSA.sol';
import {MerkleProof} from '@openzeppelin/contracts/utils/cryptography/MerkleProof.sol';
import {WeirToken} from './WeirToken.sol';

/// @notice Anchors the ledger committee's certified epoch roots and pays cumulative rewards against them.
/// An epoch is accepted only in order and only with a quorum of distinct committee signatures over one
/// EIP-712 digest; each epoch mints at most `emissionPerEpoch`. Leaves hold cumulative amounts, so one claim
/// against the latest root pays everything owed so far.
contract WeirRewards is EIP712 {
    bytes32 private constant EPOCH_ROOT_TYPEHASH = keccak256(
        'EpochRoot(bytes32 network,uint64 epoch,bytes32 contentRoot,bytes32 rewardsRoot,uint256 cumulativeTotal)'
    );
    bytes32 private constant COMMITTEE_ROTATION_TYPEHASH =
        keccak256('CommitteeRotation(bytes32 network,uint64 nonce,address[] members,uint256 quorum)');
    /// Signers are tracked in a 256-bit set while a submission is checked.
    uint256 private constant MAX_COMMITTEE = 256;

    struct EpochRoot {
        bytes32 contentRoot;
        bytes32 rewardsRoot;
        uint256 cumulativeTotal;
    }

    bytes32 public immutable network;
    WeirToken public immutable token;
    uint256 public immutable emissionPerEpoch;

    // One slot, read together by submitEpoch.
    uint64 public nextEpoch;
    uint64 public rotationNonce;
    uint64 private _quorum;

    /// Duplicated from `_epochs[nextEpoch - 1]` so a claim reads one slot.
    bytes32 public latestRewardsRoot;
    address[] private _committee;
    /// 1 + index in the committee of the given rotation nonce; 0 means not a member.
    mapping(uint64 nonce => mapping(address => uint256)) private _memberSlot;
    mapping(uint64 epoch => EpochRoot) private _epochs;
    mapping(address account => uint256) public claimed;

    event EpochSubmitted(
        uint64 indexed epoch, bytes32 contentRoot, bytes32 rewardsRoot, uint256 cumulativeTotal, uint256 minted
    );
    event Claimed(address indexed account, uint256 amount, uint256 cumulativeAmount);
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

    constructor(bytes32 network_, address[] memory committee_, uint256 quorum_, uint256 emissionPerEpoch_)
        EIP712('Weir', '1')
    {
        network = network_;
        emissionPerEpoch = emissionPerEpoch_;
        token = new WeirToken(address(this));
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
        uint256 previous = expected == 0 ? 0 : _epochs[expected - 1].cumulativeTotal;
        if (cumulativeTotal < previous) revert TotalDecreased(previous, cumulativeTotal);
        uint256 minted = cumulativeTotal - previous;
        if (minted > emissionPerEpoch) revert EmissionExceeded(minted, emissionPerEpoch);

        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(EPOCH_ROOT_TYPEHASH, network, epoch, contentRoot, rewardsRoot, cumulativeTotal))
        );
        _checkQuorum(digest, signatures);

        _epochs[epoch] = EpochRoot(contentRoot, rewardsRoot, cumulativeTotal);
        latestRewardsRoot = rewardsRoot;
        nextEpoch = epoch + 1;
        if (minted > 0) token.mint(address(this), minted);
        emit EpochSubmitted(epoch, contentRoot, rewardsRoot, cumulativeTotal, minted);
    }

    /// Pays `account` what its leaf in the latest rewards tree holds beyond what it has already claimed.
    /// Anyone may submit it; the tokens always go to `account`.
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof) external {
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(account, cumulativeAmount))));
        if (!MerkleProof.verifyCalldata(proof, latestRewardsRoot, leaf)) revert InvalidProof();
        uint256 already = claimed[account];
        if (cumulativeAmount <= already) revert NothingToClaim(account);
        claimed[account] = cumulativeAmount;
        uint256 amount = cumulativeAmount - already;
        token.transfer(account, amount);
        emit Claimed(account, amount, cumulativeAmount);
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

    /// The latest anchored epoch's cumulativeTotal (everything ever minted), 0 before the first epoch.
    function anchoredTotal() external view returns (uint256) {
        uint64 next = nextEpoch;
        return next == 0 ? 0 : _epochs[next - 1].cumulativeTotal;
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
