// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from '@openzeppelin/contracts/token/ERC20/ERC20.sol';

/// @notice The Weir reward token. Only the rewards contract that deployed it can mint, so the supply is
/// exactly what the ledger committee has certified.
contract WeirToken is ERC20 {
    address public immutable minter;

    error NotMinter(address caller);

    constructor(address minter_) ERC20('Weir', 'WEIR') {
        minter = minter_;
    }

    function mint(address to, uint256 amount) external {
        if (msg.sender != minter) revert NotMinter(msg.sender);
        _mint(to, amount);
    }
}
